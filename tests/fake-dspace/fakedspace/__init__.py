"""fakedspace -- the modules of the fake DSpace server; fake_dspace.py next to
this package is the entry point, README.md next to it describes the layout."""
