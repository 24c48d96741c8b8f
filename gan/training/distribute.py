"""Training on several devices or machines with tf.distribute (`--strategy`).

    default       one device: TensorFlow's default strategy (what a plain run always did)
    mirrored      MirroredStrategy over every local GPU, or every local CPU device when there is
                  no GPU (one, unless the process split its CPU into logical devices)
    multiworker   MultiWorkerMirroredStrategy over the machines TF_CONFIG names

The training step is the same code under every strategy (gan_model.py): each replica trains
on `batch_size` photos, so the global batch is `batch_size` x replicas, and its losses are
means over the global batch (`tf.nn.compute_average_loss`), so the optimizer's sum of the
replicas' gradients is the global batch's gradient. The learning rates are not rescaled.

Who writes what (TensorFlow's multi-worker guide): the chief (worker 0, or the task of type
"chief") owns the run directory: config, logs, samples, checkpoints and the bundle. The
other workers go through the same steps, writing into a scratch folder of their own that is
removed when they stop; they read nothing from the run directory either. Before the first
step every worker takes the chief's state (weights, optimizer slots, step), so all of them
resume from the chief's checkpoint, even when the run directory is not on storage they
share, and a worker started with other options or other photos is refused by name.

This module's top level does not import TensorFlow: `check_strategy` runs before any photo is
read, so a bad TF_CONFIG ends in one `error:` line and touches nothing.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

TASK_TYPES = ("chief", "worker")   # tasks that train; MultiWorkerMirroredStrategy has no others


class StrategyError(ValueError):
    """A --strategy that cannot run here (TF_CONFIG missing or malformed); one line."""


@dataclass(frozen=True)
class Role:
    """This process's place in the run: how many workers, which one, and whether it is the
    chief that writes the run directory."""
    strategy: str
    task: str = "worker"
    index: int = 0
    workers: int = 1
    cluster_has_chief: bool = False

    @property
    def chief(self) -> bool:
        return self.task == "chief" or (self.index == 0 and not self.cluster_has_chief)

    @property
    def multiworker(self) -> bool:
        return self.strategy == "multiworker"

    def name(self) -> str:
        return "the chief" if self.chief else f"{self.task} {self.index} of {self.workers}"


def check_strategy(strategy: str, environ: dict[str, str] | None = None) -> Role:
    """This process's Role under `strategy`; for multiworker, TF_CONFIG checked as
    MultiWorkerMirroredStrategy needs it, every problem a StrategyError (one line)."""
    if strategy != "multiworker":
        return Role(strategy)
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG", "")
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not raw.strip():
        raise StrategyError("--strategy multiworker needs TF_CONFIG naming the cluster and this "
                            f"worker's place in it ({example}); for one machine use --strategy mirrored")
    try:
        conf = json.loads(raw)
    except ValueError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({e}); {example}") from None
    if not isinstance(conf, dict) or not isinstance(conf.get("cluster"), dict):
        raise StrategyError(f'TF_CONFIG needs a "cluster" object; {example}')
    cluster, task = conf["cluster"], conf.get("task")
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise StrategyError(f"TF_CONFIG's cluster has {', '.join(unknown)}: --strategy multiworker "
                            "trains with chief and worker tasks only")
    for job, hosts in cluster.items():
        if (not isinstance(hosts, list) or not hosts
                or not all(isinstance(h, str) and _host_port(h) for h in hosts)):
            raise StrategyError(f'TF_CONFIG\'s cluster "{job}" must be a list of "host:port" '
                                f"strings, got {hosts!r}")
    if len(cluster.get("chief", [])) > 1:
        raise StrategyError("TF_CONFIG's cluster may have one chief, not "
                            f"{len(cluster['chief'])}")
    if not isinstance(task, dict):
        raise StrategyError('TF_CONFIG needs a "task" object saying which worker this is, '
                            'e.g. "task": {"type": "worker", "index": 0}')
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster:
        raise StrategyError(f'TF_CONFIG\'s task type {kind!r} is not in its cluster '
                            f"({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise StrategyError(f"TF_CONFIG's task index {index!r} is not a {kind} of the cluster "
                            f"(0 to {len(cluster[kind]) - 1})")
    workers = sum(len(h) for h in cluster.values())
    return Role("multiworker", kind, index, workers, cluster_has_chief="chief" in cluster)


def _host_port(address: str) -> bool:
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


# --- with TensorFlow --------------------------------------------------------------------------
def expected_replicas(role: Role) -> int:
    """How many replicas `role` will train on, from the GPUs TensorFlow sees (without
    initialising it: thread settings must still be possible)."""
    if role.strategy == "default":
        return 1
    import tensorflow as tf

    return role.workers * max(1, len(tf.config.list_physical_devices("GPU")))


def check_jit(jit_compile: bool, replicas: int) -> None:
    """XLA compiles the step of one replica only: with several, the variables one replica
    reads live on another's device, which XLA refuses (seen with two CPU devices)."""
    if jit_compile and replicas > 1:
        raise StrategyError(f"--jit-compile works on one replica, and this run has {replicas}: "
                            "train without it (--no-jit-compile)")


def make_strategy(role: Role):
    """The tf.distribute strategy of `role` (TensorFlow is configured by the caller first:
    MultiWorkerMirroredStrategy must be made before TensorFlow runs any op)."""
    import tensorflow as tf

    if role.strategy == "default":
        return tf.distribute.get_strategy()
    if role.strategy == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.MultiWorkerMirroredStrategy()


def distribute_batches(strategy, images, labels, batch_size: int, *, seed: int, start_step: int,
                       flip: bool, index=None):
    """The training photos as a distributed dataset: one input pipeline per worker, and each
    replica gets its slice of every step's global batch (`make_dataset`'s `shard`); `index`:
    a balanced epoch to draw from (`gan.data.balance`)."""
    # lazy: gan.data.pipeline loads TensorFlow; only when training starts
    from gan.data.pipeline import make_dataset

    def per_worker(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        shard = (context.input_pipeline_id * local, local, context.num_replicas_in_sync)
        return make_dataset(images, labels, batch_size, seed=seed, start_step=start_step,
                            flip=flip, shard=shard, index=index)

    return strategy.distribute_datasets_from_function(per_worker)


class Workers:
    """The collective steps a multi-worker run takes besides training: every worker must take
    each of them, in the same order, or the others wait for it."""

    def __init__(self, strategy):
        import tensorflow as tf

        self.strategy = strategy

        @tf.function
        def total(value):
            def replica_fn():
                return tf.distribute.get_replica_context().all_reduce("SUM", tf.identity(value))
            return strategy.run(replica_fn)
        self._total = total

    def from_chief(self, values: list) -> list:
        """The chief's (replica 0's) value of each tensor in `values` (this worker's own), on
        every worker, as numpy: a sum over the replicas in which only replica 0 counts."""
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(v) for v in values]
        wide = [tf.int64 if t.dtype.is_integer else t.dtype for t in tensors]

        @tf.function
        def gather():
            def replica_fn():
                context = tf.distribute.get_replica_context()
                first = tf.equal(context.replica_id_in_sync_group, 0)
                own = [tf.where(first, tf.cast(t, w), tf.zeros_like(t, dtype=w))
                       for t, w in zip(tensors, wide)]
                summed = list(own)
                for dtype in dict.fromkeys(wide):   # one all-reduce per dtype, the same order
                    # everywhere (an all-reduce packs its list of tensors into one)
                    at = [i for i, w in enumerate(wide) if w == dtype]
                    for i, v in zip(at, context.all_reduce("SUM", [own[i] for i in at])):
                        summed[i] = v
                return summed
            return self.strategy.run(replica_fn)

        local = [self.strategy.experimental_local_results(r)[0] for r in gather()]
        return [tf.cast(v, t.dtype).numpy() for v, t in zip(local, tensors)]

    def take_chief_state(self, groups: dict[str, list], step: int) -> int:
        """Every worker's copy of every variable in `groups` := the chief's; returns the
        chief's `step`. All workers then go on from the checkpoint the chief restored."""
        variables = [v for vs in groups.values() for v in vs]
        chief = self.from_chief([v.value if hasattr(v, "value") else v for v in variables] + [step])
        for v, value in zip(variables, chief[:-1]):
            v.assign(value)
        return int(chief[-1])

    def differ_from_chief(self, facts: dict[str, Any]) -> list[str]:
        """The names of the `facts` whose value here differs from the chief's (compared by a
        CRC-32 of their JSON)."""
        names = sorted(facts)
        mine = [zlib.crc32(json.dumps(facts[k], sort_keys=True, default=str).encode()) for k in names]
        return [k for k, a, b in zip(names, mine, self.from_chief(mine)) if int(a) != int(b)]

    def any(self, flag: bool) -> bool:
        """True on every worker when `flag` is true on any of them."""
        import tensorflow as tf

        total = self._total(tf.constant(1.0 if flag else 0.0))
        return bool(self.strategy.experimental_local_results(total)[0].numpy() > 0)
