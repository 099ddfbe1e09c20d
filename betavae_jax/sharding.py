"""Placing the population and the batches on devices and hosts.

One code path for 1 CPU, several GPUs and TPU slices: a 1-D mesh over all
devices. A population whose size the device count divides is spread across
devices (each device trains its members on the whole batch); otherwise the
parameters are replicated and the batch is split (data parallelism). Each
host reads only the rows of the global batch that its devices hold.
"""

import os

from absl import logging
import jax
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

AXIS = "devices"


def maybe_initialize_distributed() -> None:
  """Joins a multi-process run when the environment describes one.

  TPU pods, SLURM and explicit coordinator settings are auto-detected by
  `jax.distributed.initialize()`; a plain single-process run skips it.
  """
  multi = (os.environ.get("JAX_COORDINATOR_ADDRESS")
           or int(os.environ.get("SLURM_NTASKS", "1")) > 1
           or "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""))
  if multi:
    jax.distributed.initialize()
    logging.info("Process %d of %d.", jax.process_index(),
                 jax.process_count())


def create_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), (AXIS,))


def population_is_sharded(population_size: int) -> bool:
  """Members go across devices when each device gets the same number."""
  n = jax.device_count()
  return n > 1 and population_size % n == 0


def state_sharding(mesh: Mesh, population_size: int) -> NamedSharding:
  """Sharding of every leaf of the population state (leading member axis)."""
  spec = P(AXIS) if population_is_sharded(population_size) else P()
  return NamedSharding(mesh, spec)


def batch_sharding(mesh: Mesh, population_size: int) -> NamedSharding:
  """Replicated when members are sharded, else split along the batch."""
  spec = P() if population_is_sharded(population_size) else P(AXIS)
  return NamedSharding(mesh, spec)


def host_shard(sharding: NamedSharding) -> tuple[int, int]:
  """(shard_index, num_shards) of this host's rows of the global batch."""
  if sharding.spec == P():
    return 0, 1
  return jax.process_index(), jax.process_count()


def put_batch(local_batch: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """Assembles the global batch from each host's local rows."""
  return jax.make_array_from_process_local_data(sharding, local_batch)
