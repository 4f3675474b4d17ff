# The sample project is run by test_pytest_plugin.py in its own pytest, as its users would run it.
collect_ignore = ["sample_project"]
