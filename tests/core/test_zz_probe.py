import sys
def test_probe():
    import tests.core.conftest as c
    print(c.__file__, [m for m in sys.modules if "conftest" in m])
