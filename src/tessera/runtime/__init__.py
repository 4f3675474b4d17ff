"""Process-level runtime helpers below storage: the run gate and the threads' scheduling.

They decide how request threads share the interpreter and the CPU; storage steps aside through
them while it waits for a commit, so they must sit beneath storage and import nothing of tessera.
"""
