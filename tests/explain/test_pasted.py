"""Pasted outputs read with doctor's parsers into facts with their line numbers (verbatim samples from
shared/reference/doctor-anchors.md Part 3, each with its source)."""

from __future__ import annotations

import pytest

from gpucheck.explain.pasted import read_pasted
from gpucheck.explain.text import clean

SAMPLES = {
    # https://github.com/NVIDIA/k8s-device-plugin/issues/343
    "smi_q": """==============NVSMI LOG==============

Timestamp                                 : Thu Nov  3 05:46:34 2022
Driver Version                            : 450.203.03
CUDA Version                              : 11.0

Attached GPUs                             : 8
GPU 00000000:07:00.0
    Product Name                          : A100-SXM4-40GB
    Product Brand                         : Tesla
    Display Mode                          : Enabled
    Display Active                        : Disabled
    Persistence Mode                      : Enabled
    MIG Mode
        Current                           : Disabled
        Pending                           : Disabled
""",
    # https://github.com/a0s/nvidia-smi-exporter/blob/master/spec/fixtures/nvidia-smi-4.xml (excerpt)
    "smi_xml": """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v10.dtd">
<nvidia_smi_log>
  <timestamp>Fri Sep 27 11:00:44 2019</timestamp>
  <driver_version>418.56</driver_version>
  <cuda_version>10.1</cuda_version>
  <attached_gpus>1</attached_gpus>
  <gpu id="00000000:04:00.0">
    <product_name>Quadro P2000</product_name>
    <compute_mode>Default</compute_mode>
  </gpu>
</nvidia_smi_log>
""",
    # https://github.com/k2-fsa/k2/pull/584
    "nvcc": """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2019 NVIDIA Corporation
Built on Sun_Jul_28_19:07:16_PDT_2019
Cuda compilation tools, release 10.1, V10.1.243
""",
    # https://github.com/pytorch/pytorch/issues/51858
    "collect_env": """PyTorch version: 2.0.1+cu117
Is debug build: False
CUDA used to build PyTorch: 11.7
ROCM used to build PyTorch: N/A
Is CUDA available: True
CUDA runtime version: 11.7.64
CUDA_MODULE_LOADING set to: LAZY
GPU models and configuration: GPU 0: NVIDIA GeForce GTX 1050 Ti
Nvidia driver version: 535.98
""",
    # https://github.com/vllm-project/vllm/issues/19018 (the aligned layout)
    "collect_env_new": """PyTorch version              : 2.7.0+cu128
Is debug build               : False
CUDA used to build PyTorch   : 12.8
ROCM used to build PyTorch   : N/A
""",
    # https://github.com/Steam-Headless/docker-steam-headless/issues/117
    "docker_info": """ cdi: nvidia.com/gpu=0
 cdi: nvidia.com/gpu=GPU-1d6b406e-c68c-f7b2-ab20-03b824cbdcc5
 cdi: nvidia.com/gpu=all
Runtimes: io.containerd.runc.v2 nvidia runc
""",
    # https://github.com/NVIDIA/nvidia-docker/issues/895
    "container_cli": """NVRM version:   384.130
CUDA version:   9.0

Device Index:   0
Device Minor:   0
Model:          GeForce 920M
Brand:          GeForce
GPU UUID:       GPU-4712226b-88e6-a01e-efb0-a5950a64f8d9
Bus Location:   00000000:08:00.0
Architecture:   3.5
""",
    # https://github.com/leoheck/kiri/pull/28
    "proc_version": "Linux version 5.4.72-microsoft-standard-WSL2 (oe-user@oe-host) "
    "(gcc version 8.2.0 (GCC)) #1 SMP Wed Oct 28 23:40:43 UTC 2020\n",
    # https://github.com/NVIDIA/nvidia-docker/issues/1795 (broken: default without definition)
    "daemon_json": """cat /etc/docker/daemon.json
{
    "default-runtime": "nvidia"
}
""",
    # https://github.com/conda-forge/tensorflow-feedstock/pull/157 (tf.sysconfig.get_build_info(), pprint)
    "tf_build_info": """OrderedDict([('cpu_compiler',
              '/home/conda/feedstock_root/build_artifacts/tensorflow-split_1635580013918/_build_env/bin/x86_64-conda-linux-gnu-gcc'),
             ('cuda_compute_capabilities',
              ['sm_35',
               'compute_86']),
             ('cuda_version', '11.2'),
             ('cudnn_version', '8'),
             ('is_cuda_build', True),
             ('is_rocm_build', False),
             ('is_tensorrt_build', False)])
""",
    # https://github.com/guo-pu/NanoDet-PyTorch/issues/4 (conda list; trailing spaces removed)
    "conda_list": """ conda list | grep cuda
cudatoolkit               10.2.89              hfd86e86_1
cudnn                     7.6.5                cuda10.2_0
pytorch                   1.7.1
""",
}

EXPECTED = {
    "smi_q": [
        ("driver.version", "450.203.03", 4),
        ("driver.cuda", "11.0", 5),
        ("gpu.name", "A100-SXM4-40GB", 9),
    ],
    "smi_xml": [("driver.version", "418.56", 3), ("driver.cuda", "10.1", 3), ("gpu.name", "Quadro P2000", 3)],
    "nvcc": [("toolkit.nvcc", "10.1", 4)],
    "collect_env": [
        ("torch.version", "2.0.1+cu117", 1),
        ("torch.cuda", "11.7", 3),
        ("torch.cuda_available", "True", 5),
        ("gpu.name", "NVIDIA GeForce GTX 1050 Ti", 8),
        ("driver.version", "535.98", 9),
    ],
    "collect_env_new": [("torch.version", "2.7.0+cu128", 1), ("torch.cuda", "12.8", 3)],
    "docker_info": [
        ("docker.runtimes", "io.containerd.runc.v2 nvidia runc", 4),
        ("docker.cdi_devices", "nvidia.com/gpu=all", 3),
    ],
    "container_cli": [
        ("driver.version", "384.130", 1),
        ("gpu.name", "GeForce 920M", 1),
        ("gpu.capability", "3.5", 1),
    ],
    "proc_version": [("kernel.flavour", "wsl2", 1)],
    "daemon_json": [
        ("daemon_json.runtimes", "none", 2),
        ("daemon_json.problem", "specified default runtime 'nvidia' does not exist", 2),
    ],
    "conda_list": [("torch.cuda", "10.2", 2), ("torch.version", "1.7.1", 4)],
    "tf_build_info": [("tf.cuda", "11.2", 6), ("tf.cudnn", "8", 7)],
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_reader_facts_with_lines(name: str):
    reading = read_pasted(clean(SAMPLES[name]))
    facts = {(f.name, f.value, f.line) for f in reading.facts}
    for expected in EXPECTED[name]:
        assert expected in facts, (expected, sorted(facts))
    assert reading.pasted and all(p.error is None for p in reading.pasted), reading.pasted


def test_quoted_issue_markdown_is_read_too():
    quoted = "".join("> " + line + "\n" for line in SAMPLES["nvcc"].splitlines())
    facts = {(f.name, f.value) for f in read_pasted(clean(quoted)).facts}
    assert ("toolkit.nvcc", "10.1") in facts


def test_entity_declarations_in_xml_are_not_expanded():
    bomb = (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE nvidia_smi_log [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>\n'
        "<nvidia_smi_log><driver_version>&b;</driver_version></nvidia_smi_log>\n"
    )
    reading = read_pasted(clean(bomb))
    assert [p.error for p in reading.pasted] == ["XML entities are not read"]
    assert not reading.facts


def test_a_table_header_that_does_not_parse_is_reported_not_raised():
    reading = read_pasted(clean("| NVIDIA-SMI has Driver Version: garbage\n"))
    assert all(p.kind == "nvidia-smi table" for p in reading.pasted)
