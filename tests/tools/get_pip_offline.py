"""Stand-in for ansible-test's get-pip bootstrap script, which it would download.

ansible-test runs it as ``python get_pip_X_Y.py [pip options] pip==X.Y [--no-setuptools]``;
this installs pip from a wheel that `make test` fetched into the same folder.
"""

import glob
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main():
    version = os.path.basename(__file__)[len("get_pip_"):-len(".py")].replace("_", ".")
    wheels = glob.glob(os.path.join(HERE, "pip-%s-*.whl" % version))
    if not wheels:
        sys.exit("no pip %s wheel in %s" % (version, HERE))
    sys.path.insert(0, wheels[0])
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    args = [wheels[0] if a == "pip==%s" % version else a for a in args]
    sys.argv = ["pip", "install"] + args
    runpy.run_module("pip", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
