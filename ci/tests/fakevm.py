# SPDX-License-Identifier: GPL-2.0
"""Stand-in VMs for the tests that boot one through ci/vm's code (test_inproc, test_signals,
test_bounded): a work tree's stamped build dir whose kernel image is a script or a marker
for a fake QEMU, the pids those stand-ins record, and killing what is left of them."""
import os
import signal

from tests.test_build import write
from zsgate import build, config

# what ci/vm wants to find in the .config of the image it boots
CONFIG = {"um": "CONFIG_HOSTFS=y\nCONFIG_DEVTMPFS=y\nCONFIG_SMP=y\n",
          "x86_64": "CONFIG_BLK_DEV_INITRD=y\nCONFIG_DEVTMPFS=y\nCONFIG_SMP=y\n"}


def stamped_image(tree, arch, rev, image):
    """<tree>/.kunit-<arch> with its .config and the kernel image @image (the text of a
    stand-in UML kernel, executable, or what a fake QEMU reads), stamped ok as ci/kunit's
    build of run kunit-<arch>-<rev> would be; the stamp."""
    bd = os.path.join(tree, config.build_dir(arch))
    write(os.path.join(bd, ".config"), CONFIG[arch])
    img = os.path.join(bd, build.image_rel(arch))
    write(img, image)
    os.chmod(img, 0o755)
    return build.stamp_ok(tree, bd, arch, f"kunit-{arch}-{rev}")


def recorded_pids(path):
    """The pids the stand-ins appended to @path, one a line (first on the line); [] before
    any started."""
    try:
        with open(path, encoding="utf-8") as f:
            return [int(ln.split()[0]) for ln in f if ln.strip()]
    except FileNotFoundError:
        return []


def kill_all(pids):
    """SIGKILL each of @pids that is still there."""
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
