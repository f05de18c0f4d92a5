"""pytest imports test files by basename (rootdir-relative, no packages): two test files with one name in
different folders stop the whole run at collection. Catch it here, in the fast unit run, with the names."""
import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_test_file_name_is_unique():
    seen = collections.defaultdict(list)
    for folder, _dirs, files in os.walk(TESTS):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen[name].append(os.path.relpath(os.path.join(folder, name), TESTS))
    assert {n: p for n, p in seen.items() if len(p) > 1} == {}
