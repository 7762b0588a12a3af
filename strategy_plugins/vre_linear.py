"""The strategy every play of the toolkit runs with: Ansible's `linear`, carried by Mitogen.

Ansible's own connections start a fresh Python on the host for each task (with the docker
connection of the local provider: a `docker exec`, an interpreter start and the module's imports,
per task and host). Mitogen for Ansible (`mitogen` on PyPI, pinned in requirements-dev.txt) keeps
one interpreter per host for the whole run and sends modules to it over that channel: the same
tasks, in the same order, with the same results; benchmarks/strategy.py measures the difference in
one run on the same hosts. Mitogen takes over the connections it knows by their short names
(`docker`, `ssh`, `local`): the local provider's inventory says `ansible_connection: docker`.

Without Mitogen installed (an operator's controller set up by hand) the plays run with plain
`linear`, and this module says so once: slower, nothing else differs. ansible.cfg names this
strategy; `ANSIBLE_STRATEGY=linear` switches Mitogen off for one run.
"""

from __future__ import annotations

try:
    import ansible_mitogen.loaders  # checks the Ansible version Mitogen supports
    import ansible_mitogen.strategy
except ImportError as exc:  # pragma: no cover - depends on the controller's packages
    from ansible.plugins.strategy.linear import StrategyModule as _Linear
    from ansible.utils.display import Display

    Display().warning(
        f"strategy vre_linear: Mitogen is not importable ({exc}); running with Ansible's plain "
        "'linear' strategy (same tasks, slower). Install it with: pip install -r requirements-dev.txt"
    )

    class StrategyModule(_Linear):
        """Ansible's linear strategy, unchanged."""

else:
    _Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Base):
        """Ansible's linear strategy with Mitogen's connections (as mitogen_linear)."""
