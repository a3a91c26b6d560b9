"""The lab's own tests share the integration fixtures: the lab, its environment, ansible-playbook."""

from tests.integration.conftest import ansible_playbook, lab, lab_env  # noqa: F401  pylint: disable=unused-import
