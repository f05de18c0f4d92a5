"""Render a config template: ${VAR} is replaced from the environment; an unset variable is an error."""
import os
import re
import sys

src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
missing = sorted({m for m in re.findall(r"\$\{(\w+)\}", text) if m not in os.environ})
if missing:
    sys.exit("render %s: unset variables %s" % (src, ", ".join(missing)))
with open(dst, "w") as fh:
    fh.write(re.sub(r"\$\{(\w+)\}", lambda m: os.environ[m.group(1)], text))
