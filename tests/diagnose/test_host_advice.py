"""Host detection from evidence, and advice rendered for the host it will run on."""

from __future__ import annotations

import pytest

from gpucheck.collect.evidence import Evidence, FileRead, Value
from gpucheck.diagnose import advice
from gpucheck.diagnose.host import Host, detect_host, family_of, parse_os_release

UBUNTU = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n'
RHEL9 = 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nID_LIKE="fedora"\n'
ROCKY = 'NAME="Rocky Linux"\nVERSION_ID="8.9"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
CENTOS7 = 'NAME="CentOS Linux"\nVERSION_ID="7"\nID="centos"\nID_LIKE="rhel fedora"\n'
TUMBLEWEED = 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n'
LEAP = 'NAME="openSUSE Leap"\nVERSION_ID="15.5"\nID="opensuse-leap"\nID_LIKE="suse opensuse"\n'
ARCH = 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n'
MANJARO = 'NAME="Manjaro Linux"\nID=manjaro\nID_LIKE=arch\n'
ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n'


@pytest.mark.parametrize(
    ("text", "family"),
    [
        (UBUNTU, "apt"),
        (RHEL9, "dnf"),
        (ROCKY, "dnf"),
        (CENTOS7, "yum"),
        (TUMBLEWEED, "zypper"),
        (LEAP, "zypper"),
        (ARCH, "pacman"),
        (MANJARO, "pacman"),
        (ALPINE, "other"),
    ],
)
def test_family_from_os_release(text: str, family: str) -> None:
    assert family_of(parse_os_release(text)) == family


def test_os_release_parser_ignores_junk_and_unquotes() -> None:
    parsed = parse_os_release('# comment\nID="a b"\nnot a line\nX=\'y\'\n=\nPRETTY_NAME="say \\"hi\\""\n')
    assert parsed == {"ID": "a b", "X": "y", "PRETTY_NAME": 'say "hi"'}


def evidence(**files: str) -> Evidence:
    ev = Evidence()
    ev.add([FileRead(path=p, content=c, exists=True) for p, c in files.items()])
    return ev


def test_detect_host_reads_distribution_user_and_container() -> None:
    ev = evidence(**{"/etc/os-release": UBUNTU, "/proc/1/cgroup": "0::/kubepods/besteffort/pod1/abc\n"})
    ev.add(
        [
            Value(
                name="identity",
                data={"uid": 1000, "user": "ana", "groups": [1000, 44], "group_names": {"44": "video"}},
            ),
            Value(name="container_markers", data={"/.dockerenv": False, "/run/.containerenv": False}),
        ]
    )
    host = detect_host(ev)
    assert (host.family, host.distro_id, host.version_id) == ("apt", "ubuntu", "22.04")
    assert host.container == "kubernetes" and host.in_container
    assert host.root is False and host.user == "ana" and host.groups == ("1000", "video")


def test_detect_host_without_any_evidence_is_unknown_and_not_root() -> None:
    host = detect_host(Evidence())
    assert host == Host()
    assert advice.sudo(host, "reboot") == "sudo reboot"


def test_rootless_docker_from_docker_host_and_sockets() -> None:
    ev = Evidence()
    ev.add([Value(name="env", data={"DOCKER_HOST": "unix:///run/user/1000/docker.sock"})])
    assert detect_host(ev).rootless_docker
    ev = Evidence()
    sockets = {"/var/run/docker.sock": False, "/run/user/1000/docker.sock": True}
    ev.add([Value(name="identity", data={"uid": 1000, "sockets": sockets})])
    assert detect_host(ev).rootless_docker
    assert "systemctl --user restart docker" in advice.restart_docker(detect_host(ev))


HOSTS = {
    "ubuntu": Host(family="apt", distro_id="ubuntu", version_id="22.04", root=False),
    "rhel": Host(family="dnf", distro_id="rhel", version_id="9.4", root=False),
    "opensuse": Host(family="zypper", distro_id="opensuse-tumbleweed", root=False),
    "arch": Host(family="pacman", distro_id="arch", root=True),
    "container": Host(family="apt", distro_id="ubuntu", container="docker", root=True),
    "wsl2": Host(family="apt", distro_id="ubuntu", wsl2=True, root=False),
}
OTHER_MANAGERS = {
    "apt": ("dnf ", "yum ", "zypper", "pacman"),
    "dnf": ("apt-get", "apt ", "zypper", "pacman", "update-initramfs"),
    "zypper": ("apt-get", "apt ", "dnf ", "yum ", "pacman", "update-initramfs"),
    "pacman": ("apt-get", "apt ", "dnf ", "yum ", "zypper", "update-initramfs", "dracut"),
}


@pytest.mark.parametrize("name", ["ubuntu", "rhel", "opensuse", "arch"])
def test_driver_install_uses_only_the_hosts_package_manager(name: str) -> None:
    host = HOSTS[name]
    for text in (
        advice.driver_install(host, "580", open_modules=True),
        advice.driver_install(host, "535", open_modules=False),
        advice.kernel_module_rebuild(host),
        advice.blacklist_nouveau(host),
        advice.container_toolkit_install(host),
    ):
        for other in OTHER_MANAGERS[host.family]:
            assert other not in text, (name, other, text)
        assert ("sudo " in text) is (not host.root), text


def test_driver_branch_and_module_flavour_reach_the_package_name() -> None:
    assert "nvidia-driver-580-open" in advice.driver_install(HOSTS["ubuntu"], "580", open_modules=True)
    assert "nvidia-driver-535`" in advice.driver_install(HOSTS["ubuntu"], "535", open_modules=False)
    assert "@nvidia-driver:580-open" in advice.driver_install(HOSTS["rhel"], "580", open_modules=True)
    assert "nvidia-open-driver-G06" in advice.driver_install(HOSTS["opensuse"], "580", open_modules=True)
    assert "nvidia-open nvidia-utils" in advice.driver_install(HOSTS["arch"], "580", open_modules=True)


def test_inside_a_container_the_driver_is_installed_on_the_host() -> None:
    text = advice.driver_install(HOSTS["container"], "580")
    assert text.startswith("On the host, not inside this docker container")
    assert "--gpus all" in text
    assert "sudo apt-get install" in text  # rendered for the host, whose user is not known to be root
    assert advice.kernel_module_rebuild(HOSTS["container"]).startswith("On the host")
    assert advice.container_toolkit_install(HOSTS["container"]).startswith("On the host")


def test_on_wsl2_the_driver_is_fixed_in_windows() -> None:
    for text in (advice.driver_install(HOSTS["wsl2"], "580"), advice.kernel_module_rebuild(HOSTS["wsl2"])):
        assert text.startswith("In Windows")
        assert "apt-get" not in text and "dkms" not in text.replace("no NVIDIA kernel module", "")


def test_unknown_host_lists_every_family_labelled() -> None:
    text = advice.install_packages(Host(), {"apt": ["a"], "dnf": ["b"], "zypper": ["c"], "pacman": ["d"]})
    assert "Debian/Ubuntu: `sudo apt-get install -y a`" in text
    assert "RHEL/Fedora: `sudo dnf install -y b`" in text
    assert "openSUSE/SLES" in text and "Arch: `sudo pacman" in text


def test_a_family_without_a_package_points_to_the_guide() -> None:
    text = advice.install_packages(HOSTS["arch"], {"apt": ["cuda-toolkit-12-4"]}, guide="https://guide")
    assert "pacman" not in text and "apt-get" not in text and "https://guide" in text
    alpine = Host(family="other", distro_id="alpine", name="Alpine Linux v3.19")
    assert "Alpine" in advice.install_packages(
        alpine, {"apt": ["x"]}
    ) and "apt" not in advice.install_packages(alpine, {"apt": ["x"]})


def test_yum_hosts_use_dnf_names_with_yum() -> None:
    host = Host(family="yum", distro_id="centos", version_id="7")
    assert (
        advice.install_packages(host, {"dnf": ["cuda-toolkit-11-8"]})
        == "`sudo yum install -y cuda-toolkit-11-8`"
    )
