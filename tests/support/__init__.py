"""Helpers shared by the tests, one module per kind of help (fixtures stay in the conftest files,
where pytest needs them, and use these):

- configs: small valid targets.yaml documents and what every configuration error must satisfy
- fake_target: an in-memory TargetHandle and restic repository, and a site of them that builds the
  CopyContext the checks receive (tests/unit/checks)
- cli: the CLI as a subprocess (run_cli) or in this process (invoke); demo: the demo sandbox
- sandbox: a targets.yaml in tmp_path run with the product's own loader and run_verification,
  and readers of its results
- restic: the session's template repository and the ways to break a copy of it
- restore, names, restic_locks: what the restore, hostile-name and restic-lock tests share
- sshd, seaweed: the real OpenSSH and S3 (SeaweedFS) servers on 127.0.0.1
- servers: free ports, waiting for HTTP, stopping a process by pid, a server that never answers
- site: the small real site of the deployment tests; mounts: tmpfs mounts; records: QEF-19-05 rows
"""
