"""The anomaly gate: is the newest backup a normal day's change, or a mass change — ransomware
encrypting the primary, a sync gone wrong — that a fresh, intact, well-verified backup would
otherwise carry into every copy?

- content.py: entropy of a file's first 64 KiB and compressed formats by magic bytes;
- signals.py: the verdict from a change and its samples (pure);
- sampling.py: which changed files are read, and the scratch they are read in;
- restic_source.py / mirror_source.py: what changed, and the samples, per kind of copy;
- state.py: the last clean backup, a suspect one, the baseline (state.json);
- gate.py: one copy's verdict, in order; accept.py: an operator's acceptance of a suspect.

checks/anomaly.py is the check; `backup-agent anomaly accept` (agent/cli/anomaly.py) the command.
"""
