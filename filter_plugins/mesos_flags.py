"""Jinja2 filters that check and render the command-line flags of Mesos 1.11 and Chronos 3.

The roles `mesos_master`, `mesos_slave` and `chronos` build their flags as a dict (computed
defaults merged with the operator's overrides) and render it only through these filters, so a flag
name that Mesos 1.11 or Chronos 3 does not document fails the run with a message naming it (and the
closest documented name) instead of shipping a configuration the daemon refuses at start.

``vre_mesos_flags(flags, kind)``
    ``kind`` is ``master`` or ``agent``. Returns the flags checked and normalised to strings, sorted
    by name: names are bare (``zk``, not ``--zk`` or ``MESOS_ZK``) and documented for that kind
    (``MESOS_MASTER_FLAGS`` / ``MESOS_AGENT_FLAGS`` plus the flags both take); ``None`` values drop
    the flag (how an override removes a computed default); booleans become ``true``/``false``;
    lists, dicts, empty strings and values with a line break are refused.

``vre_mesos_env(flags, kind)``
    The same flags as the lines of a systemd ``EnvironmentFile``: ``MESOS_ZK="zk://..."``. Mesos
    reads every flag from an environment variable ``MESOS_<FLAG>`` (flag upper-cased); values are
    double-quoted with ``\\`` and ``"`` escaped (systemd does no ``$`` expansion in environment files).

``vre_chronos_args(flags)``
    Chronos 3 flags (``CHRONOS_FLAGS``) as an argument list: ``["--master", "zk://...", ...]``.
    Toggles (``CHRONOS_TOGGLES``, e.g. ``mesos_checkpoint``) take no value: ``true`` passes
    ``--name``, ``None`` leaves Chronos' default, ``false`` is refused (Chronos has no ``--no-``
    form, so omitting it would silently keep a default of true). ``http_credentials`` is refused:
    a password on the command line is readable by every user through ``ps``; the role passes it in
    the environment variable Chronos documents for it.

``vre_systemd_exec(argv)``
    An argument list as one systemd ``ExecStart=`` command line: every word double-quoted, with
    ``\\``, ``"`` escaped and ``$``/``%`` doubled, so values reach the process verbatim.

``vre_mesos_kv(value, what)``
    Mesos' ``key:value;key:value`` form of ``--resources`` and ``--attributes`` from a dict (order
    kept), or a string passed through after checking. ``what`` names the variable in messages.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from jinja2 import Undefined

# --------------------------------------------------------------------------------------------
# Documented flag names, as data. Only names found in the documents below are listed: a name
# missing here can be added after checking it in them; a name here is never guessed.
#
# Mesos 1.11: apache/mesos docs/configuration/master-and-agent.md ("Master and Agent Options" and
# "Logging Options"), docs/configuration/master.md ("Required Flags", "Optional Flags", "Network
# Isolator Flags") and docs/configuration/agent.md ("Required Flags", "Optional Flags", "Network
# Isolator Flags", "Seccomp Isolator flags", "XFS Disk Isolator flags"), as of the 1.11 release
# (agent.md requires the TASK_RESOURCE_LIMITS agent feature, new in 1.11). Deprecated aliases the
# documents list next to a flag (slave_ping_timeout, authenticate_slaves, ...) are accepted too.
# `help` and `version` are documented but make the daemon print and exit: they are left out.
# --------------------------------------------------------------------------------------------

MESOS_COMMON_FLAGS = frozenset(
    {
        # master-and-agent.md, "Master and Agent Options"
        "advertise_ip",
        "advertise_port",
        "authenticate_http_readonly",
        "authenticate_http_readwrite",
        "firewall_rules",
        "domain",
        "hooks",
        "hostname",
        "hostname_lookup",
        "http_authenticators",
        "ip",
        "ip_discovery_command",
        "modules",
        "modules_dir",
        "port",
        "zk_session_timeout",
        # master-and-agent.md, "Logging Options"
        "quiet",
        "log_dir",
        "logbufsecs",
        "logging_level",
        "initialize_driver_logging",
        "external_log_file",
    }
)

MESOS_MASTER_ONLY_FLAGS = frozenset(
    {
        # master.md, "Required Flags"
        "quorum",
        "work_dir",
        "zk",
        # master.md, "Optional Flags"
        "acls",
        "agent_ping_timeout",
        "slave_ping_timeout",
        "agent_removal_rate_limit",
        "slave_removal_rate_limit",
        "agent_reregister_timeout",
        "slave_reregister_timeout",
        "allocation_interval",
        "allocator",
        "min_allocatable_resources",
        "authenticate_agents",
        "authenticate_slaves",
        "authenticate_frameworks",
        "authenticate",
        "authenticate_http_frameworks",
        "authenticators",
        "authentication_v0_timeout",
        "authorizers",
        "cluster",
        "credentials",
        "fair_sharing_excluded_resource_names",
        "filter_gpu_resources",
        "framework_sorter",
        "http_framework_authenticators",
        "log_auto_initialize",
        "master_contender",
        "master_detector",
        "max_agent_ping_timeouts",
        "max_slave_ping_timeouts",
        "max_completed_frameworks",
        "max_completed_tasks_per_framework",
        "max_operator_event_stream_subscribers",
        "max_unreachable_tasks_per_framework",
        "offer_timeout",
        "offer_constraints_re2_max_mem",
        "offer_constraints_re2_max_program_size",
        "publish_per_framework_metrics",
        "rate_limits",
        "recovery_agent_removal_limit",
        "recovery_slave_removal_limit",
        "registry",
        "registry_fetch_timeout",
        "registry_gc_interval",
        "registry_max_agent_age",
        "registry_max_agent_count",
        "registry_store_timeout",
        "require_agent_domain",
        "roles",
        "root_submissions",
        "role_sorter",
        "webui_dir",
        "weights",
        "whitelist",
        # master.md, "Network Isolator Flags"
        "max_executors_per_agent",
        "max_executors_per_slave",
    }
)

MESOS_AGENT_ONLY_FLAGS = frozenset(
    {
        # agent.md, "Required Flags"
        "master",
        "work_dir",
        # agent.md, "Optional Flags"
        "acls",
        "agent_features",
        "agent_subsystems",
        "slave_subsystems",
        "effective_capabilities",
        "bounding_capabilities",
        "appc_simple_discovery_uri_prefix",
        "appc_store_dir",
        "attributes",
        "authenticate_http_executors",
        "authenticatee",
        "authentication_backoff_factor",
        "authentication_timeout_min",
        "authentication_timeout_max",
        "authorizer",
        "cgroups_cpu_enable_pids_and_tids_count",
        "cgroups_destroy_timeout",
        "cgroups_enable_cfs",
        "cgroups_hierarchy",
        "cgroups_limit_swap",
        "cgroups_net_cls_primary_handle",
        "cgroups_net_cls_secondary_handles",
        "allowed_devices",
        "cgroups_root",
        "check_agent_port_range_only",
        "container_disk_watch_interval",
        "container_logger",
        "container_ports_isolated_range",
        "container_ports_watch_interval",
        "containerizers",
        "credential",
        "default_container_dns",
        "default_container_info",
        "default_role",
        "default_container_shm_size",
        "disallow_sharing_agent_ipc_namespace",
        "disallow_sharing_agent_pid_namespace",
        "disk_profile_adaptor",
        "disk_watch_interval",
        "docker",
        "docker_config",
        "docker_ignore_runtime",
        "docker_kill_orphans",
        "docker_mesos_image",
        "docker_registry",
        "docker_remove_delay",
        "docker_socket",
        "docker_stop_timeout",
        "docker_store_dir",
        "docker_volume_checkpoint_dir",
        "docker_volume_chown",
        "domain_socket_location",
        "enforce_container_disk_quota",
        "enforce_container_ports",
        "executor_environment_variables",
        "executor_registration_timeout",
        "executor_reregistration_timeout",
        "executor_reregistration_retry_interval",
        "max_completed_executors_per_framework",
        "jwt_secret_key",
        "executor_shutdown_grace_period",
        "fetcher_cache_dir",
        "fetcher_cache_size",
        "fetcher_stall_timeout",
        "frameworks_home",
        "gc_delay",
        "gc_disk_headroom",
        "gc_non_executor_container_sandboxes",
        "hadoop_home",
        "host_path_volume_force_creation",
        "http_credentials",
        "http_command_executor",
        "http_executor_domain_sockets",
        "http_heartbeat_interval",
        "image_providers",
        "image_provisioner_backend",
        "image_gc_config",
        "ip6",
        "ip6_discovery_command",
        "isolation",
        "launcher",
        "launcher_dir",
        "master_detector",
        "nvidia_gpu_devices",
        "network_cni_plugins_dir",
        "network_cni_config_dir",
        "network_cni_root_dir_persist",
        "network_cni_metrics",
        "oversubscribed_resources_interval",
        "perf_duration",
        "perf_events",
        "perf_interval",
        "qos_controller",
        "qos_correction_interval_min",
        "reconfiguration_policy",
        "recover",
        "recovery_timeout",
        "registration_backoff_factor",
        "resource_estimator",
        "resources",
        "resource_provider_config_dir",
        "csi_plugin_config_dir",
        "revocable_cpu_low_priority",
        "runtime_dir",
        "sandbox_directory",
        "strict",
        "secret_resolver",
        "switch_user",
        "systemd_enable_support",
        "systemd_runtime_directory",
        "volume_gid_range",
        # agent.md, "Network Isolator Flags"
        "ephemeral_ports_per_container",
        "eth0_name",
        "lo_name",
        "egress_rate_limit_per_container",
        "egress_unique_flow_per_container",
        "egress_flow_classifier_parent",
        "network_enable_socket_statistics_summary",
        "network_enable_socket_statistics_details",
        "network_enable_snmp_statistics",
        # agent.md, "Seccomp Isolator flags"
        "seccomp_config_dir",
        "seccomp_profile_name",
        # agent.md, "XFS Disk Isolator flags"
        "xfs_project_range",
    }
)

MESOS_MASTER_FLAGS = MESOS_COMMON_FLAGS | MESOS_MASTER_ONLY_FLAGS
MESOS_AGENT_FLAGS = MESOS_COMMON_FLAGS | MESOS_AGENT_ONLY_FLAGS

# --------------------------------------------------------------------------------------------
# Chronos 3: mesos/chronos docs/docs/configuration.md, "Chronos v3.0.0 Command Line Flags" (the
# `--help` output of 3.0.0). `help` is left out. Note that 2.x flags such as schedule_horizon are
# gone from 3.0.0 and therefore refused. Toggles take no value (Scallop flags).
# --------------------------------------------------------------------------------------------

CHRONOS_TOGGLES = frozenset(
    {
        "disable_http",
        "http_compression",
        "disable_http_compression",
        "mail_ssl",
        "mesos_checkpoint",
        "revive_offers_for_new_jobs",
    }
)

CHRONOS_FLAGS = CHRONOS_TOGGLES | frozenset(
    {
        "cassandra_consistency",
        "cassandra_contact_points",
        "cassandra_keyspace",
        "cassandra_port",
        "cassandra_user",
        "cassandra_password",
        "cassandra_stat_count_table",
        "cassandra_table",
        "cassandra_ttl",
        "cluster_name",
        "decline_offer_duration",
        "disable_after_failures",
        "failover_timeout",
        "failure_retry",
        "graphite_group_prefix",
        "graphite_host_port",
        "graphite_reporting_interval",
        "hostname",
        "notification_level",
        "http_address",
        "http_credentials",
        "http_notification_credentials",
        "http_notification_url",
        "http_port",
        "http_realm",
        "https_address",
        "https_port",
        "job_history_limit",
        "leader_max_idle_time",
        "mail_from",
        "mail_password",
        "mail_server",
        "mail_user",
        "master",
        "mattermost_url",
        "mesos_authentication_principal",
        "mesos_authentication_secret_file",
        "mesos_framework_name",
        "mesos_role",
        "mesos_task_cpu",
        "mesos_task_disk",
        "mesos_task_mem",
        "min_revive_offers_interval",
        "raven_dsn",
        "reconciliation_interval",
        "slack_url",
        "ssl_keystore_password",
        "ssl_keystore_path",
        "task_epsilon",
        "user",
        "webui_url",
        "zk_auth",
        "zk_hosts",
        "zk_path",
        "zk_timeout",
    }
)

# Flags refused on Chronos' command line, and what to do instead.
CHRONOS_SECRET_FLAGS = {
    "http_credentials": (
        "set chronos_http_user and chronos_http_password instead: the role passes them in the "
        "MESOSPHERE_HTTP_CREDENTIALS environment variable, not on the command line where `ps` shows them"
    ),
}

FLAG_SETS: dict[str, frozenset[str]] = {
    "master": MESOS_MASTER_FLAGS,
    "agent": MESOS_AGENT_FLAGS,
    "chronos": CHRONOS_FLAGS,
}

_DOCS = {
    "master": "Mesos 1.11 master (docs/configuration/master.md and master-and-agent.md)",
    "agent": "Mesos 1.11 agent (docs/configuration/agent.md and master-and-agent.md)",
    "chronos": "Chronos 3 (docs/docs/configuration.md, v3.0.0 flags)",
}

_KV_KEY_RE = re.compile(r"[A-Za-z0-9_.()*/-]+")


def _fail(filter_name: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{filter_name}: {message}")


def _describe(value: Any) -> str:
    if isinstance(value, Undefined):
        return "an undefined variable"
    return f"{type(value).__name__} {value!r}"


def _check_name(filter_name: str, kind: str, name: Any) -> str:
    documented = FLAG_SETS[kind]
    if not isinstance(name, str):
        raise _fail(filter_name, f"flag names must be strings, got {_describe(name)}")
    if name.startswith("-"):
        raise _fail(filter_name, f"flag {name!r}: write the bare name ({name.lstrip('-')!r}), without dashes")
    if kind != "chronos" and name.upper().startswith("MESOS_"):
        raise _fail(
            filter_name,
            f"flag {name!r}: write the flag's name ({name[6:].lower()!r}), not its environment variable",
        )
    if name not in documented:
        close = difflib.get_close_matches(name, sorted(documented), n=3, cutoff=0.75)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise _fail(
            filter_name,
            f"{name!r} is not a flag of {_DOCS[kind]}{hint} The documented names are in "
            "filter_plugins/mesos_flags.py; a flag missing there can be added after checking it in "
            "those documents.",
        )
    return name


def _value_text(filter_name: str, name: str, value: Any) -> str:
    if isinstance(value, Undefined):
        raise _fail(filter_name, f"flag {name!r} is an undefined variable")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if not value.strip():
            raise _fail(filter_name, f"flag {name!r} is empty; give it a value or set it to null to drop it")
        if "\n" in value or "\r" in value:
            raise _fail(filter_name, f"flag {name!r} contains a line break: {value!r}")
        return value
    raise _fail(
        filter_name,
        f"flag {name!r} must be a string, number or boolean, got {_describe(value)}; "
        "write lists as Mesos expects them (e.g. 'docker,mesos')",
    )


def _flags(filter_name: str, flags: Any, kind: str) -> dict[str, Any]:
    if kind not in FLAG_SETS:
        raise _fail(filter_name, f"kind must be one of {sorted(FLAG_SETS)}, got {kind!r}")
    if isinstance(flags, Undefined) or not isinstance(flags, Mapping):
        raise _fail(filter_name, f"flags must be a dict of flag name to value, got {_describe(flags)}")
    checked = {}
    for name in sorted(flags, key=str):
        _check_name(filter_name, kind, name)
        if flags[name] is not None:
            checked[name] = flags[name]
    return checked


def vre_mesos_flags(flags: Mapping[str, Any], kind: str) -> dict[str, str]:
    """Mesos flags checked against the documented names of `kind`, values as strings."""
    name = "vre_mesos_flags"
    if kind not in ("master", "agent"):
        raise _fail(name, f"kind must be 'master' or 'agent', got {kind!r}")
    return {k: _value_text(name, k, v) for k, v in _flags(name, flags, kind).items()}


def _env_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def vre_mesos_env(flags: Mapping[str, Any], kind: str) -> str:
    """The flags as `MESOS_<FLAG>="value"` lines of a systemd EnvironmentFile."""
    name = "vre_mesos_env"
    if kind not in ("master", "agent"):
        raise _fail(name, f"kind must be 'master' or 'agent', got {kind!r}")
    lines = [
        f"MESOS_{k.upper()}={_env_quote(_value_text(name, k, v))}"
        for k, v in _flags(name, flags, kind).items()
    ]
    return "\n".join(lines)


def vre_chronos_args(flags: Mapping[str, Any]) -> list[str]:
    """Chronos 3 flags as an argument list, toggles without values."""
    name = "vre_chronos_args"
    args: list[str] = []
    for flag, value in _flags(name, flags, "chronos").items():
        if flag in CHRONOS_SECRET_FLAGS:
            raise _fail(
                name, f"flag {flag!r} is not passed on the command line: {CHRONOS_SECRET_FLAGS[flag]}"
            )
        if flag in CHRONOS_TOGGLES:
            if value is True:
                args.append(f"--{flag}")
                continue
            raise _fail(
                name,
                f"flag {flag!r} is a Chronos toggle without a value: set it true to pass --{flag}, or null "
                f"to leave Chronos' default (there is no --no-{flag}), got {_describe(value)}",
            )
        if isinstance(value, bool):
            raise _fail(name, f"flag {flag!r} takes a value, not a boolean; got {value!r}")
        args += [f"--{flag}", _value_text(name, flag, value)]
    return args


def _systemd_word(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%")
    return f'"{escaped}"'


def vre_systemd_exec(argv: Sequence[Any]) -> str:
    """An argument list as a systemd ExecStart= command line, each word quoted."""
    name = "vre_systemd_exec"
    if isinstance(argv, Undefined | str | bytes) or not isinstance(argv, Sequence):
        raise _fail(name, f"argv must be a list of strings, got {_describe(argv)}")
    if not argv:
        raise _fail(name, "argv is empty: give at least the program")
    words = []
    for word in argv:
        if isinstance(word, Undefined) or not isinstance(word, str | int | float) or isinstance(word, bool):
            raise _fail(name, f"every word must be a string or number, got {_describe(word)}")
        text = str(word)
        if "\n" in text or "\r" in text:
            raise _fail(name, f"word {text!r} contains a line break")
        words.append(text)
    if not words[0].startswith("/"):
        raise _fail(name, f"the program must be an absolute path, got {words[0]!r}")
    return " ".join(_systemd_word(w) for w in words)


def vre_mesos_kv(value: Any, what: str = "value") -> str:
    """`key:value;key:value` from a dict (order kept) or a checked string."""
    name = "vre_mesos_kv"
    if isinstance(value, Undefined):
        raise _fail(name, f"{what} is undefined")
    if isinstance(value, str):
        text = value.strip()
        for pair in text.split(";"):
            key, sep, val = pair.partition(":")
            if not sep or not key.strip() or not val.strip():
                raise _fail(name, f"{what}: {pair!r} is not key:value (in {text!r}); separate pairs with ';'")
        return text
    if not isinstance(value, Mapping) or not value:
        raise _fail(
            name, f"{what} must be a non-empty dict or a 'key:value;key:value' string, got {_describe(value)}"
        )
    parts = []
    for key, val in value.items():
        if not isinstance(key, str) or not _KV_KEY_RE.fullmatch(key):
            raise _fail(
                name, f"{what}: key {key!r} must be letters, digits, '_', '.', '-', '/', '*' or '(role)'"
            )
        if isinstance(val, bool | Undefined) or not isinstance(val, str | int | float):
            raise _fail(name, f"{what}: {key} must be a string or number, got {_describe(val)}")
        text = str(val).strip()
        if not text or any(c in text for c in ";\n\r"):
            raise _fail(name, f"{what}: {key} has an empty value or one with ';' or a line break: {val!r}")
        parts.append(f"{key}:{text}")
    return ";".join(parts)


class FilterModule:
    """Mesos and Chronos flag filters of the VRE toolkit."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "vre_mesos_flags": vre_mesos_flags,
            "vre_mesos_env": vre_mesos_env,
            "vre_chronos_args": vre_chronos_args,
            "vre_systemd_exec": vre_systemd_exec,
            "vre_mesos_kv": vre_mesos_kv,
        }
