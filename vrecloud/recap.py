"""Read ansible-playbook's default-callback output: the PLAY RECAP and which tasks changed where."""

from __future__ import annotations

import re

_RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)"
)
_TASK_RE = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.+?)\] \*+\s*$")
_CHANGED_RE = re.compile(r"^changed: \[(?P<host>[^\]]+?)(?: -> [^\]]+)?\]")
# A failed task or loop item ("fatal: [h]: FAILED! ..." / "failed: [h] (item=...)"), or an
# unreachable host; the message may continue on indented lines (the YAML callback).
_FAILED_RE = re.compile(r"^(?:fatal|failed): \[(?P<host>[^\]]+?)(?: -> [^\]]+)?\]")


def recap(output: str) -> dict[str, dict[str, int]]:
    """{host: {ok, changed, unreachable, failed}} from the last PLAY RECAP of `output`."""
    hosts: dict[str, dict[str, int]] = {}
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        raise ValueError("no PLAY RECAP in the output: the run did not finish")
    for line in lines[starts[-1] + 1 :]:
        m = _RECAP_RE.match(line)
        if m:
            hosts[m["host"]] = {k: int(v) for k, v in m.groupdict().items() if k != "host"}
    return hosts


def changed_tasks(output: str) -> dict[str, list[str]]:
    """{host: [task names that reported `changed` there, in order]}."""
    out: dict[str, list[str]] = {}
    task = ""
    for line in output.splitlines():
        t = _TASK_RE.match(line)
        if t:
            task = t["name"]
            continue
        c = _CHANGED_RE.match(line)
        if c:
            tasks = out.setdefault(c["host"], [])
            if not tasks or tasks[-1] != task:
                tasks.append(task)
    return out


def failures(output: str, max_lines: int = 12) -> list[str]:
    """Each failed task as "TASK NAME\n<its failure lines>" in run order (ignored ones included).

    A run's tail often holds only the recap and the timing table; this is what went wrong."""
    found: list[str] = []
    task = ""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        t = _TASK_RE.match(line)
        if t:
            task = t["name"]
            continue
        if _FAILED_RE.match(line):
            body = [line]
            for more in lines[i + 1 : i + max_lines]:
                if not more.startswith((" ", "\t")):
                    break
                body.append(more)
            found.append(f"{task}\n" + "\n".join(body))
    return found
