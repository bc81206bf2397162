#!/usr/bin/env python3
"""fake_dspace.py -- a DSpace 7/8/9 REST ("Server API") stand-in for tests.

Python 3 standard library only.  Behaviour follows
/work/shared/dspace-rest-contract.md (see tests/fake-dspace/README.md for
usage, fixtures, test controls, the layout of the fakedspace package next to
this file and a map of behaviours to contract sections and DSpace source
files).  This file is only the entry point.

    python3 fake_dspace.py --port 0 --port-file FILE --state DIR [options]
"""

import os
import sys

sys.dont_write_bytecode = True      # the source tree may be read-only (make distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # fixtures, fakedspace

from fakedspace.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
