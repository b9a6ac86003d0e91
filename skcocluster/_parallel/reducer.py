"""Sums over one side's nodes when that side may be split across processes.

The deep latent block model sums over rows in many places: the encoders' products with
``Abar^T``, the centring of the row features, the mixtures' sufficient statistics, the
objective. Each side of the model holds a reducer and calls it unconditionally wherever
it sums over that side's nodes:

- :class:`Reducer` (the default) serves a side held whole by this process: its sums are
  the identity and every computation is exactly that of a single process. With
  ``share=1/N`` it serves a side *replicated* on N processes (the columns of a row-sharded
  fit): a term computed on all of its nodes then counts once in the sum over processes.
- :class:`ProcessGroupReducer` serves a side whose nodes are split across the processes of
  a ``torch.distributed`` group: its sums are all-reduces, differentiable.
"""

import numpy as np
import torch
import torch.distributed as dist


class Reducer:
    """Sums over a side held whole by this process (or replicated on every process).

    Parameters
    ----------
    share : float, default=1.0
        The part of a term over this side's nodes that this process counts
        (:meth:`own_share`): 1 for a side held by one process, ``1 / N`` for a side
        replicated on N processes.
    """

    world_size = 1
    rank = 0

    def __init__(self, share=1.0):
        self.share = float(share)

    def sum(self, tensor):
        """The sum over processes of per-process partial sums (here: the tensor itself).

        Parameters
        ----------
        tensor : Tensor

        Returns
        -------
        total : Tensor
            Differentiable in ``tensor``.
        """
        return tensor

    def sum_array(self, array):
        """:meth:`sum` of a numpy array (float64), returned as a numpy array.

        Parameters
        ----------
        array : array-like

        Returns
        -------
        total : ndarray
        """
        return np.asarray(array, dtype=np.float64)

    def maximum(self, value):
        """The largest of the processes' ``value`` (here: ``value``).

        Parameters
        ----------
        value : float

        Returns
        -------
        maximum : float
        """
        return float(value)

    def gather_array(self, array):
        """:meth:`gather` of a numpy array: every process's rows, in rank order.

        Parameters
        ----------
        array : ndarray of shape (n_local, ...)

        Returns
        -------
        array : ndarray of shape (n, ...)
        """
        return np.asarray(array)

    def offset(self, n_local):
        """The index of this process's first node among the side's nodes.

        Parameters
        ----------
        n_local : int

        Returns
        -------
        offset : int
        """
        return int(sum(self.all_counts(n_local)[:self.rank]))

    def count(self, n_local):
        """The number of nodes of the side, given this process's ``n_local``.

        Parameters
        ----------
        n_local : int

        Returns
        -------
        n : int
        """
        return n_local

    def mean(self, tensor):
        """The mean over the side's nodes (dimension 0) of a per-node tensor.

        Parameters
        ----------
        tensor : Tensor of shape (n_local, ...)

        Returns
        -------
        mean : Tensor of shape (...)
        """
        return tensor.mean(0)

    def std(self, tensor):
        """The (unbiased) standard deviation of every entry of a per-node tensor.

        Parameters
        ----------
        tensor : Tensor of shape (n_local, ...)

        Returns
        -------
        std : Tensor (scalar)
        """
        return tensor.std()

    def gather(self, tensor):
        """Every node's rows, in the order of the processes' shards.

        Parameters
        ----------
        tensor : Tensor of shape (n_local, ...)

        Returns
        -------
        tensor : Tensor of shape (n, ...)
        """
        return tensor

    def rows_of_best(self, scores, values):
        """For each column k of ``scores``, the row of ``values`` of the node scoring best.

        Parameters
        ----------
        scores : Tensor of shape (n_local, K)
        values : Tensor of shape (n_local, D)

        Returns
        -------
        rows : Tensor of shape (K, D)
        """
        return values[scores.argmax(0)]

    def own_share(self, value):
        """This process's part of a term computed on all of the side's nodes it holds.

        Parameters
        ----------
        value : Tensor

        Returns
        -------
        value : Tensor
            ``value`` unchanged for a side held by one process, ``share * value`` for a
            replicated side.
        """
        return value if self.share == 1.0 else value * self.share

    def all_counts(self, n_local, device=None):
        """Every process's ``n_local``, in rank order (here: one process).

        Parameters
        ----------
        n_local : int
        device : torch.device, optional
            Where the collective runs (the CUDA device under nccl).

        Returns
        -------
        counts : list of int
        """
        return [int(n_local)]

    def broadcast(self, array):
        """The first process's numpy array, on every process (here: ``array``).

        Parameters
        ----------
        array : ndarray

        Returns
        -------
        array : ndarray
        """
        return array

    def agree(self, flag):
        """The first process's ``flag``, on every process (here: ``flag``).

        A decision computed on every process from the same gathered data (a k-means)
        could still differ in the last bits between machines; this makes it one.

        Parameters
        ----------
        flag : bool

        Returns
        -------
        flag : bool
        """
        return flag

    def broadcast_(self, tensor):
        """Overwrite ``tensor`` with the first process's (here: leave it).

        Parameters
        ----------
        tensor : Tensor
        """


class _AllReduceSum(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduce of the incoming gradients.

    Each process's loss depends on the sum, so the gradient of the total loss with respect
    to one process's addend is the sum over processes of their gradients.
    """

    @staticmethod
    def forward(ctx, tensor, group):
        ctx.group = group
        total = tensor.contiguous().clone()  # nccl needs contiguous tensors
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class ProcessGroupReducer(Reducer):
    """Sums over a side whose nodes are split across the processes of a group.

    Every process must make the same calls in the same order (collectives).

    Parameters
    ----------
    group : ProcessGroup, optional
        The default group when None.
    """

    def __init__(self, group=None):
        super().__init__(1.0)
        self.group = group
        self.world_size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)

    def sum(self, tensor):
        if not torch.is_grad_enabled() or not tensor.requires_grad:
            total = tensor.detach().contiguous().clone()  # nccl needs contiguous tensors
            dist.all_reduce(total, group=self.group)
            return total
        return _AllReduceSum.apply(tensor, self.group)

    def sum_array(self, array):
        # a copy: the all-reduce is in place, the caller's array stays its own part
        tensor = torch.tensor(np.ascontiguousarray(array, dtype=np.float64),
                              device=_collective_device())
        dist.all_reduce(tensor, group=self.group)
        return tensor.cpu().numpy()

    def maximum(self, value):
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=self.group)
        return float(tensor[0])

    def gather_array(self, array):
        array = np.ascontiguousarray(array)
        return self.gather(torch.as_tensor(array, device=_collective_device())).cpu().numpy()

    def count(self, n_local):
        counts = self.all_counts(n_local)
        return int(sum(counts))

    def all_counts(self, n_local, device=None):
        device = device or _collective_device()
        local = torch.tensor([int(n_local)], dtype=torch.int64, device=device)
        counts = [torch.zeros_like(local) for _ in range(self.world_size)]
        dist.all_gather(counts, local, group=self.group)
        return [int(count) for count in counts]

    def mean(self, tensor):
        return self.sum(tensor.sum(0)) / self.count(tensor.shape[0])

    def std(self, tensor):
        n_entries = self.count(tensor.numel())
        mean = self.sum(tensor.sum()) / n_entries
        squares = self.sum((tensor - mean).pow(2).sum())
        return (squares / max(n_entries - 1, 1)).sqrt()

    def gather(self, tensor):
        counts = self.all_counts(tensor.shape[0], tensor.device)
        padded = torch.zeros((max(counts), *tensor.shape[1:]), dtype=tensor.dtype,
                             device=tensor.device)
        padded[:tensor.shape[0]] = tensor.detach()
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat([part[:count] for part, count in zip(parts, counts)])

    def rows_of_best(self, scores, values):
        best = scores.argmax(0)
        local = torch.cat([scores.gather(0, best[None, :]).T, values[best]], dim=1)
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(parts, local.contiguous(), group=self.group)
        stacked = torch.stack(parts)  # (world, K, 1 + D)
        winner = stacked[:, :, 0].argmax(0)
        return stacked[winner, torch.arange(stacked.shape[1], device=stacked.device), 1:]

    def agree(self, flag):
        return bool(self.broadcast(np.array([int(bool(flag))], dtype=np.int64))[0])

    def broadcast_(self, tensor):
        dist.broadcast(tensor.data, 0, group=self.group)

    def broadcast(self, array):
        tensor = torch.tensor(np.ascontiguousarray(array), device=_collective_device())
        dist.broadcast(tensor, 0, group=self.group)
        return tensor.cpu().numpy()


def _collective_device():
    """Where small collectives run: the current CUDA device under nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


#: The reducer of a side held whole by one process.
IDENTITY = Reducer()
