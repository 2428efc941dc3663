"""Many nodes: `asr fit` launched as a cluster launches it, two "nodes" of one process each on 127.0.0.1 (gloo),
each started by its own `torchrun --nnodes 2 --node-rank R --master-addr --master-port` (tests/multinode_util.py).
The ranks train on disjoint cuts, an odd number of cuts of varied lengths finishes (no rank waits for a batch that
never comes), every rank ends with the same weights, and a node killed mid-epoch, then both restarted with the same
command and `--ckpt_path last`, ends with the weights of the run never interrupted, to the bit. Under SLURM (faked
`SLURM_*` variables; nothing is launched) the Trainer `asr fit` builds takes its ranks from SLURM, and the process
that makes the tokenizer and CMVN files is the one Lightning makes rank zero.

The recipe side, the commands and the failure modes: recipes/librispeech/README.md, "Many nodes".
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import yaml

from multinode_util import Nodes
from training_fixtures import noise_corpus

TINY = dict(d_model=32, heads=2, enc_layers=1, dec_layers=1, ffn=64, subsampling=4, subsampling_channels=8,
            conv_module=True, conv_kernel=5, dropout=0.1)  # dropout on: each rank's random draws must resume too
MAX_STEPS = 14  # 6 batches a rank an epoch on this corpus: epochs end at steps 6 and 12, training stops in epoch 2
KILL_AT = "step:10"  # mid-epoch 1, two steps after the checkpoint at step 8
NODES = ["--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.strategy", "ddp"]


def _config(tmp: Path, manifest: Path, name: str) -> Path:
    """The tiny model on the noise corpus, bounded by steps, a checkpoint every 4 steps and the probes."""
    run = tmp / name
    cfg = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "max_steps": MAX_STEPS, "max_epochs": -1, "max_time": None,
            "limit_val_batches": 0, "logger": False, "enable_progress_bar": False, "enable_model_summary": False,
            "default_root_dir": str(run),
            "callbacks": [
                {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                 "init_args": {"every_n_train_steps": 4, "save_top_k": 0, "save_last": True,
                               "enable_version_counter": False}},
                {"class_path": "ddp_probe.RecordCutIds", "init_args": {"out_dir": str(run / "ids")}},
                {"class_path": "ddp_probe.RecordWeights", "init_args": {"out_dir": str(run / "weights")}},
                {"class_path": "kill_probe.PauseAt"},
            ],
        },
        "model": {"model": TINY, "tokenizer": {"kind": "char"}, "optim": {"warmup_steps": 5},
                  "task": {"cmvn_utterances": 10}},
        "data": {"train_manifests": str(manifest), "valid_manifests": str(manifest), "test_manifests": None,
                 "train_repeats": None, "max_duration": 3.0, "num_buckets": 2, "num_workers": 0},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _args(cfg: Path, *extra: str) -> list[str]:
    return ["--config", str(cfg), "--threads", "1", *NODES, *extra]


def _weights(run: Path, rank: int) -> dict:
    return torch.load(run / "weights" / f"rank{rank}_weights.pt", weights_only=True)


def _last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")


def _largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("multinode")
    return tmp, noise_corpus(tmp / "data", n=23)  # odd count, varied durations: batches do not split evenly


@pytest.fixture(scope="module")
def straight(corpus) -> Path:
    """Two nodes trained to MAX_STEPS without interruption: the run folder."""
    tmp, manifest = corpus
    nodes = Nodes(tmp, "straight", _args(_config(tmp, manifest, "straight")))
    rcs = nodes.wait(timeout=150)  # uneven shards: a rank left without a batch would wait here for ever
    assert rcs == [0, 0], nodes.tail()
    return tmp / "straight"


@pytest.mark.timeout(200)
def test_two_nodes_train_on_disjoint_cuts_and_end_with_the_same_weights(straight, corpus):
    _, manifest = corpus
    all_ids = set(json.loads(line)["id"] for line in _jsonl(manifest))
    for epoch in (0, 1):  # the whole corpus each epoch, split between the ranks
        ranks = [(straight / "ids" / f"rank{r}_epoch{epoch}.txt").read_text().split() for r in (0, 1)]
        assert ranks[0] and ranks[1]
        assert not set(ranks[0]) & set(ranks[1]), f"epoch {epoch}: both ranks trained on the same cuts"
        # lhotse gives a rank left without a batch at an epoch's end a copy of a cut another rank has, its id marked
        # `_dup0`: one cut trained twice instead of a hang
        seen = [i for r in ranks for i in r if "_dup" not in i]
        assert sorted(seen) == sorted(all_ids), f"epoch {epoch}: not every cut once"
    one, two = _weights(straight, 0), _weights(straight, 1)
    assert one["environment"] == two["environment"] == "TorchElasticEnvironment"
    assert (one["world_size"], one["node_rank"], two["node_rank"]) == (2, 0, 1)
    assert one["global_step"] == two["global_step"] == MAX_STEPS
    assert _largest_difference(one["state_dict"], two["state_dict"]) == 0.0, "the ranks' weights drifted apart"


@pytest.mark.timeout(300)
def test_a_killed_node_then_both_restarted_with_ckpt_path_last_gives_the_uninterrupted_weights(straight, corpus):
    """Node 1 is SIGKILLed (agent and worker) two steps after the checkpoint at step 8, mid-epoch; node 0, waiting
    in the all-reduce for it, must fail by itself rather than hang. Both restarted with the command they were
    started with end where the uninterrupted run ended, to the bit, on both ranks."""
    tmp, manifest = corpus
    cfg = _config(tmp, manifest, "killed")
    run, flag = tmp / "killed", tmp / "paused.json"
    args = _args(cfg, "--ckpt_path", "last")  # the same command every time: the first start finds no checkpoint
    nodes = Nodes(tmp, "killed", args, env_of={1: {"ASR_TEST_PAUSE_AT": KILL_AT, "ASR_TEST_PAUSED": str(flag)}})
    deadline = time.monotonic() + 150
    while not flag.exists():
        if any(p.poll() is not None for p in nodes.procs) or time.monotonic() > deadline:
            for r in (0, 1):
                nodes.kill(r)
            raise AssertionError(f"node 1 never reached {KILL_AT}:\n{nodes.tail()}")
        time.sleep(0.05)
    report = json.loads(flag.read_text())
    nodes.kill(1)
    rc0 = nodes.wait(timeout=90)[0]  # node 0 sees its peer gone in the next collective
    assert rc0 != 0, nodes.tail()
    assert (report["resumed_at"], report["global_step"]) == (0, 10), report
    assert _last(run)["global_step"] == 8

    again = Nodes(tmp, "restarted", args)
    assert again.wait(timeout=150) == [0, 0], again.tail()
    assert all("Restored all states from the checkpoint" in log.read_text() for log in again.logs[:1]), again.tail()
    for rank in (0, 1):
        mine, theirs = _weights(run, rank), _weights(straight, rank)
        assert mine["global_step"] == MAX_STEPS
        worst = _largest_difference(mine["state_dict"], theirs["state_dict"])
        assert worst == 0.0, f"rank {rank}: weights differ by up to {worst} from the uninterrupted run's"
    a, b = _last(run), _last(straight)  # rank 0's checkpoint at step 12, written after the restart
    assert a["global_step"] == b["global_step"] == 12
    assert _largest_difference(a["state_dict"], b["state_dict"]) == 0.0


def _jsonl(path: Path) -> list[str]:
    import gzip

    with gzip.open(path, "rt") as f:
        return [line for line in f if line.strip()]


ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "librispeech" / "transformer_100h.yaml"
LAUNCHERS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "GROUP_RANK", "TORCHELASTIC_RUN_ID", "MASTER_ADDR",
             "MASTER_PORT", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NTASKS", "SLURM_JOB_ID")


def _srun_task(monkeypatch, procid: int, tasks_per_node: int = 8, nodes: int = 2) -> None:
    """The variables `srun` gives task `procid` of `sbatch --nodes N --ntasks-per-node K` (recipes/librispeech/
    slurm.sbatch), on nodes gpu17 and gpu18; no launcher's variables besides."""
    for name in LAUNCHERS:  # set, then deleted: monkeypatch restores what was there, and removes what Lightning adds
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `srun` on PATH: Lightning would warn that it was not used
    for name, value in {"SLURM_NTASKS": tasks_per_node * nodes, "SLURM_NTASKS_PER_NODE": tasks_per_node,
                        "SLURM_NNODES": nodes, "SLURM_PROCID": procid, "SLURM_LOCALID": procid % tasks_per_node,
                        "SLURM_NODEID": procid // tasks_per_node, "SLURM_JOB_NAME": "asr-librispeech",
                        "SLURM_JOB_ID": 4711, "SLURM_NODELIST": "gpu[17-18]"}.items():
        monkeypatch.setenv(name, str(value))


def _recipe_args(manifest: Path, tmp: Path) -> list[str]:
    """The sbatch script's `asr fit` line, on the CPU (the ranks come from SLURM, not from the hardware)."""
    return ["--config", str(RECIPE), "--trainer.num_nodes", "2", "--trainer.devices", "8",
            "--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
            "--trainer.default_root_dir", str(tmp / "run"), "--data.train_manifests", str(manifest),
            "--data.valid_manifests", str(manifest), "--data.test_manifests", "null", "--data.num_workers", "0",
            "--model.tokenizer.kind", "char", "--model.task.cmvn_utterances", "4"]


@pytest.mark.parametrize("procid, node, first", [(0, 0, True), (9, 1, False), (8, 1, False)])
def test_under_slurm_the_trainer_takes_its_ranks_from_srun(procid, node, first, monkeypatch, tmp_path):
    """Nothing is launched: the Trainer `asr fit` builds for task `procid` of a 2 x 8 job picks Lightning's SLURM
    environment with SLURM's ranks, and prepare.py's first process (the one that writes the tokenizer and CMVN
    files while the others wait for them) is the global rank zero, not each node's first task."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    from asr.training.cli import build_cli
    from asr.training.prepare import first_process

    manifest = noise_corpus(tmp_path / "data", n=4)
    _srun_task(monkeypatch, procid)
    trainer = build_cli(_recipe_args(manifest, tmp_path), run=False).trainer
    env = trainer.strategy.cluster_environment
    assert isinstance(env, SLURMEnvironment)
    assert (trainer.global_rank, trainer.world_size, trainer.node_rank, trainer.local_rank) == (procid, 16, node,
                                                                                                procid % 8)
    assert (env.main_address, env.main_port) == ("gpu17", 15000 + 4711)  # the first node; a port from the job id
    assert trainer.is_global_zero == first_process() == first


def test_a_task_count_that_does_not_match_the_devices_is_one_line(monkeypatch, tmp_path, capsys):
    """`--ntasks-per-node 4` for `--trainer.devices 8`: Lightning refuses as the run starts; `asr fit` says so in
    one line with its hint, exit 2, not a traceback (and not after the other ranks wait for a collective)."""
    from asr.cli import main

    manifest = noise_corpus(tmp_path / "data", n=4)
    _srun_task(monkeypatch, 0, tasks_per_node=4)
    monkeypatch.chdir(tmp_path)
    rc = main(["fit", *_recipe_args(manifest, tmp_path), "--threads", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2 and len(err) == 1 and "--ntasks-per-node=4" in err[0] and "devices=4" in err[0], err
