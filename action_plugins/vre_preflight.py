"""Preflight checks that need the raw inventory or the roles' own files (playbooks/preflight.yml,
roles vre_validate_inventory and vre_validate_roles).

    - name: Check variables and secrets
      vre_preflight:
        check: variables     # per host: secrets, and names that look like ours but are not
    - name: Check group names
      vre_preflight:
        check: groups        # once: groups that look like the VRE's but are not
    - name: Find the roles' rules for this host
      vre_preflight:
        check: roles         # per host: every role site.yaml applies to the host; validates the
                             # host's values against each role's meta/argument_specs.yml; returns
                             # `roles`, the host's (rule_files() lists every role's rule files)

Why an action plugin: a secret must be checked without being templated (ansible-core 2.19 quotes
the source line of a template syntax error, whatever no_log says), and the roles' rules are read
from the roles themselves (defaults, argument specs, the plays of site.yaml), not from a copy.

No value of a secret ever reaches a message: only variable names and what is wrong.
"""

from __future__ import annotations

import difflib
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleError, AnsibleUndefinedVariable
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import trust_as_template

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ansible-playbook does not put the project on the path
    sys.path.insert(0, str(ROOT))
from vrecloud.spec import KNOWN_GROUPS  # noqa: E402

ROLES = ROOT / "roles"

# Variables whose value is a secret, and keys of the items of list variables that hold one
# (docker_registry_users: [{name, password}]).
SECRET_NAME = re.compile(r"(_password|_secret|_token|_api_key|_munge_key)$")
SECRET_KEY = re.compile(r"(^|_)(password|secret|token|api_key|secret_key)$")
# Compared trimmed and lower-cased; anything containing changeme, made only of x's, or wrapped in
# <...> is an example value too.
EXAMPLE_VALUES = {
    "changeme",
    "change_me",
    "change-me",
    "example",
    "password",
    "secret",
    "xxx",
    "todo",
    "tbd",
    "fixme",
}
DELIMITERS = ("{{", "{%", "{#")

# The prefixes of the VRE's variables.
PREFIXES = (
    "vre_",
    "common_",
    "nfs_",
    "zookeeper_",
    "mesos_",
    "chronos_",
    "galaxy_",
    "docker_registry_",
    "docker_engine_",
    "kube_",
    "kubernetes_",
    "tool_images_",
    "slurm_",
)
# The groups site.yaml deploys to: the cluster spec's list (vrecloud/spec.py), one list for both.
GROUPS = frozenset(KNOWN_GROUPS)
NAME_TOKEN = re.compile(r"\b((?:" + "|".join(PREFIXES) + r")[a-z0-9_]*[a-z0-9])\b")


def is_example(value: str) -> bool:
    v = value.strip().lower()
    return (
        v in EXAMPLE_VALUES
        or re.search(r"change[_-]?me", v) is not None
        or re.fullmatch(r"x+", v) is not None
        or re.fullmatch(r"<.*>", value.strip()) is not None
    )


@cache
def role_defaults() -> dict[str, dict[str, Any]]:
    """Each role's defaults/main.yml."""
    out = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        out[path.parent.parent.name] = yaml.safe_load(path.read_text()) or {}
    return out


# The role holding the cluster-wide values (defaults only): every role depends on it, and its
# argument spec is entry point `cluster`, not `main`, so that Ansible does not validate it again in
# every play that loads it; this preflight checks it on every host instead.
CLUSTER_ROLE, CLUSTER_ENTRY = "vre_defaults", "cluster"


@cache
def role_spec(role: str, entry: str = "main") -> dict[str, Any]:
    path = ROLES / role / "meta" / "argument_specs.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return ((data.get("argument_specs") or {}).get(entry) or {}).get("options") or {}


@cache
def known_names() -> frozenset[str]:
    """Every variable name with one of our prefixes that the project reads or documents: role
    defaults and argument specs, and any such name written in a role, playbook, inventory sample,
    molecule scenario or plugin."""
    names: set[str] = set()
    for defaults in role_defaults().values():
        names |= set(defaults)
    for role in role_defaults():
        names |= set(role_spec(role))
    names |= set(role_spec(CLUSTER_ROLE, CLUSTER_ENTRY))
    patterns = (
        "roles/**/*.yml",
        "roles/**/*.j2",
        "playbooks/**/*.yml",
        "inventories/**/*.yml",
        "molecule/**/*.yml",
        "*.yaml",
    )
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            names |= set(NAME_TOKEN.findall(path.read_text(errors="replace")))
    for path in list(ROOT.glob("filter_plugins/*.py")) + list(ROOT.glob("vrecloud/*.py")):
        names |= set(NAME_TOKEN.findall(path.read_text(errors="replace")))
    return frozenset(names)


def empty_means_generated(name: str) -> bool:
    """A secret whose role default is "": the role generates it, or refuses in its own rules when
    it cannot (galaxy_db_password with an unmanaged server, say). A cluster-wide secret that role
    defaults only pass on (vre_registry_pull_password, slurm_munge_key) is left unset, not empty,
    when there is none."""
    return any(defaults.get(name) == "" for defaults in role_defaults().values())


def resolve(pattern: str, groups: dict[str, list[str]]) -> list[str]:
    """Hosts of an Ansible host pattern as site.yaml's plays write them: unions (`a:b`),
    `&` intersections, `!` exclusions, `group[i]`, host names, `all`, `none`."""
    hosts = list(groups.get("all", []))
    chosen: list[str] = []
    for part in filter(None, re.split(r"[:,]", pattern)):
        op, name = (part[0], part[1:]) if part[0] in "!&" else ("", part)
        m = re.fullmatch(r"(.+)\[(-?\d+)\]", name)
        members = groups.get(m.group(1) if m else name)
        if members is None:
            members = [name] if name in hosts else []
        if m:
            i = int(m.group(2))
            members = [members[i]] if -len(members) <= i < len(members) else []
        if op == "!":
            chosen = [h for h in chosen if h not in members]
        elif op == "&":
            chosen = [h for h in chosen if h in members]
        else:
            chosen += [h for h in members if h not in chosen]
    return chosen


@cache
def site_plays() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(hosts pattern, role names) of every play site.yaml imports, in order."""
    plays: list[tuple[str, tuple[str, ...]]] = []

    def read(path: Path) -> None:
        for play in yaml.safe_load(path.read_text()) or []:
            if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
                target = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
                read((path.parent / target).resolve())
            elif play.get("roles"):
                roles = tuple(r["role"] if isinstance(r, dict) else r for r in play["roles"])
                plays.append((str(play.get("hosts", "")), roles))

    read(ROOT / "site.yaml")
    return tuple(plays)


def included_roles() -> dict[str, tuple[str, ...]]:
    """Roles that no play applies but other roles include whole (include_role without tasks_from),
    and the roles that include them: their inputs are the including role's variables, which the
    preflight checks there (registry_ca, included by docker_engine and kube_common; private_ca, by
    docker_registry and galaxy)."""
    found: dict[str, list[str]] = {}
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        owner = path.parts[-3]
        for task in yaml.safe_load(path.read_text()) or []:
            for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                arg = task.get(key) if isinstance(task, dict) else None
                if not isinstance(arg, dict) or "tasks_from" in arg:
                    continue
                by = found.setdefault(str(arg["name"]), [])
                if owner not in by:
                    by.append(owner)
    return {role: tuple(by) for role, by in found.items()}


def rule_files() -> list[tuple[str, str]]:
    """(role, task file) of every role's rules, in site.yaml's order: the includes of
    roles/vre_preflight/tasks/rules.yml, which tests/unit/test_preflight_rules.py holds to it."""
    roles = dict.fromkeys(r for _, play_roles in site_plays() for r in play_roles)
    return [
        (role, name)
        for role in roles
        for name in ("validate.yml", "validate_source.yml")
        if (ROLES / role / "tasks" / name).is_file()
    ]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        check = self._task.args.get("check")
        try:
            if check == "variables":
                return result | self._variables(task_vars)
            if check == "groups":
                return result | self._groups(task_vars)
            if check == "roles":
                return result | self._roles(task_vars)
        except AnsibleError as exc:
            return result | {"failed": True, "msg": f"vre_preflight ({check}): {exc.message}"}
        return result | {"failed": True, "msg": f"vre_preflight: unknown check {check!r}"}

    # -- templating without printing ---------------------------------------------------------------

    def _value(self, raw: Any) -> tuple[Any, str | None]:
        """(templated value, None), or (None, what is wrong) without quoting the value."""
        try:
            return self._templar.template(raw), None
        except AnsibleUndefinedVariable:
            return None, "refers to an undefined variable"
        except AnsibleError as exc:
            kind = type(exc).__name__
            return None, (
                f"is not a valid template ({kind}); if the value itself contains {{{{ or {{%, mark "
                "it !unsafe in the inventory or the vault"
            )

    # -- variables: secrets and names ----------------------------------------------------------------

    def _variables(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        host = task_vars.get("inventory_hostname", "?")
        host_vars = task_vars.get("hostvars", {}).get(host, {})
        names = sorted(str(n) for n in host_vars)
        bad: list[str] = []
        for name in names:
            if SECRET_NAME.search(name):
                why = self._secret_problem(name, task_vars.get(name), top=True)
                if why:
                    bad.append(f"{name} ({why})")
            elif name.startswith(PREFIXES):
                bad += self._nested_secrets(name, task_vars.get(name))
        unknown = [n for n in names if n.startswith(PREFIXES) and n not in known_names()]
        allowed = set(task_vars.get("vre_preflight_allow_unknown") or [])
        misspelt, other = [], []
        for name in unknown:
            if name in allowed:
                continue
            near = difflib.get_close_matches(name, sorted(known_names()), n=1, cutoff=0.85)
            if near and near[0] not in host_vars:
                misspelt.append(f"{name} (did you mean {near[0]}?)")
            else:
                other.append(name)
        out: dict[str, Any] = {"changed": False, "bad_secrets": bad, "misspelt": misspelt, "unknown": other}
        if other:
            self._display.warning(
                f"{host}: these variables have a VRE prefix but no role reads them: {', '.join(other)} "
                "(list yours in vre_preflight_allow_unknown to silence this)"
            )
        problems = []
        if bad:
            problems.append(
                f"Host {host} has secrets that are empty or left at an example value: "
                f"{', '.join(bad)}. Set a real value for each (ideally from an ansible-vault file) in "
                "group_vars/host_vars."
            )
        if misspelt:
            problems.append(
                f"Host {host} has variables that no role reads, each close to one that does: "
                f"{', '.join(misspelt)}. Rename each (or, if it is yours and not a typo, list it in "
                "vre_preflight_allow_unknown)."
            )
        if problems:
            out |= {"failed": True, "msg": " ".join(problems)}
        return out

    def _secret_problem(self, name: str, raw: Any, top: bool) -> str | None:
        value, why = raw, None
        if isinstance(raw, str) and any(d in raw for d in DELIMITERS):
            value, why = self._value(raw)  # a template: a vault variable, say
        if why:
            return why
        if value is None:
            return "undefined or null"
        if not isinstance(value, str):
            return "not a string: quote it"
        if value.strip() == "":
            return None if top and empty_means_generated(name) else "empty"
        if is_example(value):
            return "example value"
        return None

    def _nested_secrets(self, path: str, raw: Any, depth: int = 0) -> list[str]:
        """Secrets at any depth of a list or mapping (docker_registry_users[0].password,
        galaxy_object_store.backends[1].auth.token)."""
        bad: list[str] = []
        if depth > 12:
            return bad
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                bad += self._nested_secrets(f"{path}[{i}]", item, depth + 1)
        elif isinstance(raw, dict):
            for key in sorted(raw, key=str):
                value, where = raw[key], f"{path}.{key}"
                if SECRET_KEY.search(str(key)) and not isinstance(value, (list, dict)):
                    why = self._secret_problem(str(key), value, top=False)
                    if why:
                        bad.append(f"{where} ({why})")
                else:
                    bad += self._nested_secrets(where, value, depth + 1)
        return bad

    # -- groups -------------------------------------------------------------------------------------

    def _groups(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        groups = task_vars.get("groups", {})
        lookalikes = []
        for name in sorted(set(groups) - GROUPS - {"all", "ungrouped"}):
            near = difflib.get_close_matches(name, sorted(GROUPS), n=1, cutoff=0.75)
            if near and not groups.get(near[0]):
                lookalikes.append(f"{name} (did you mean {near[0]}?)")
        if lookalikes:
            return {
                "failed": True,
                "changed": False,
                "msg": (
                    "The inventory has groups that look like the VRE's but are not: "
                    f"{', '.join(lookalikes)}. Their hosts would get none of that layer: rename each "
                    f"group (the VRE's groups are {', '.join(sorted(GROUPS))})."
                ),
            }
        return {"changed": False}

    # -- roles --------------------------------------------------------------------------------------

    def _roles(self, task_vars: dict[str, Any]) -> dict[str, Any]:
        host = task_vars.get("inventory_hostname", "?")
        groups = task_vars.get("groups", {})
        roles: list[str] = []
        for pattern, play_roles in site_plays():
            hosts_pattern, why = self._value(trust_as_template(pattern))  # site.yaml is ours
            if why:
                raise AnsibleError(f"the hosts of a play of site.yaml ({pattern}) {why}")
            if host in resolve(str(hosts_pattern), groups):
                roles += [r for r in play_roles if r not in roles]
        problems = []
        for role in [*roles, CLUSTER_ROLE]:
            spec = role_spec(role, CLUSTER_ENTRY if role == CLUSTER_ROLE else "main")
            args: dict[str, Any] = {}
            for option in spec:
                if option not in task_vars:
                    continue
                value, why = self._value(task_vars[option])
                if why == "refers to an undefined variable":
                    continue  # refers to a role default: the role checks it when it runs
                if why:
                    problems.append(f"{option} {why}")
                    continue
                args[option] = value
            checked = ArgumentSpecValidator(spec).validate(args, validate_role_argument_spec=True)
            secrets = [str(v) for k, v in args.items() if SECRET_NAME.search(k) and v]
            for message in checked.error_messages:
                text = str(message)
                for secret in secrets:
                    text = text.replace(secret, "********")
                problems.append(f"role {role}: {text}")
        out: dict[str, Any] = {"changed": False, "roles": roles}
        if problems:
            out |= {
                "failed": True,
                "msg": (
                    f"Host {host}: these values do not fit the roles' argument specs (roles/*/meta/"
                    f"argument_specs.yml): {'; '.join(problems)}. Fix them in group_vars/host_vars."
                ),
            }
        return out
