"""Build matplotlib's font list into the image and make matplotlib use it at run time.

At run time the root filesystem is read-only and only /tmp and /work are (empty) tmpfs mounts, so
the usual cache directory cannot hold a prebuilt font list. MPLCONFIGDIR=/tmp/mpl is writable, and
matplotlib's loader is taught to fall back to the copy built here when that directory has none.
Without the patch matplotlib still works: it rebuilds the list in /tmp/mpl (about 0.1 s here).
"""
import os
import sys
from pathlib import Path

PREBUILT = Path("/usr/local/share/cloudcode/matplotlib")
PREBUILT.mkdir(parents=True, exist_ok=True)
os.environ["MPLCONFIGDIR"] = str(PREBUILT)

import matplotlib  # noqa: E402
from matplotlib import font_manager  # noqa: E402  (builds and writes the font list)

name = f"fontlist-v{font_manager.FontManager.__version__}.json"
built = PREBUILT / name
if not built.is_file():
    sys.exit(f"mpl-fontcache: {built} was not written")
for p in PREBUILT.iterdir():
    if p.name != name:
        p.unlink()
built.chmod(0o644)

src = Path(font_manager.__file__)
text = src.read_text()
old = "            fm = json_load(fm_path)\n"
new = ("            fm = json_load(fm_path if fm_path.exists() else\n"
       f"                           Path({str(PREBUILT)!r}, fm_path.name))  # CloudCode: prebuilt\n")
if new in text:
    print("mpl-fontcache: already patched")
elif text.count(old) == 1:
    src.write_text(text.replace(old, new))
    print(f"mpl-fontcache: {src} reads {built} when its cache directory has none")
else:
    print(f"mpl-fontcache: WARNING: {src} has changed; not patched "
          "(matplotlib will rebuild its font list at run time)")

# The non-interactive backend is the default even when MPLBACKEND is not in the environment.
rc = Path("/etc/matplotlibrc")
if rc.is_file():
    lines = rc.read_text().splitlines(keepends=True)
    lines = ["backend: Agg\n" if l.lstrip().startswith("backend") and ":" in l and not l.lstrip().startswith("#") else l
             for l in lines]
    rc.write_text("".join(lines))
print(f"mpl-fontcache: matplotlib {matplotlib.__version__}, {len(font_manager.fontManager.ttflist)} fonts; "
      f"{rc}: " + " ".join(l.strip() for l in open(rc) if l.startswith("backend")) if rc.is_file() else "")
