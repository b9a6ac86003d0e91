"""The gradients of the parameters every process holds a copy of, summed over processes.

Each process's loss is its part of the objective (its rows' terms, and its share of the
columns' terms), so the gradient of the whole objective with respect to a replicated
parameter is the sum over processes of their gradients; the per-row parameters (the row
encoder's first layer, the row offsets) are held by one process only and need no sum.
"""

import torch


def replicated_parameters(model):
    """The trained parameters of a row-sharded model that every process holds.

    Parameters
    ----------
    model : DeepLatentBlockModel

    Returns
    -------
    parameters : list of Parameter
        Every network parameter but the row encoder's first layers and the row offsets.
    """
    per_row = {id(model.row_encoder.first_layer), id(model.row_encoder.first_layer_var),
               id(model.decoder.row_offset)}
    return [p for p in model.network_parameters() if id(p) not in per_row]


class GradientSum:
    """All-reduce the gradients of replicated parameters at the end of each backward pass.

    The first of their gradients to be accumulated queues one callback at the end of the
    backward pass, which sums every gradient in one flat all-reduce (as
    ``DistributedDataParallel`` does, in one bucket): the optimiser then takes the same
    step on every process, and the copies stay equal.

    Parameters
    ----------
    parameters : list of Parameter
    reducer : Reducer
        Sums over the row shards.
    """

    def __init__(self, parameters, reducer):
        self.parameters = list(parameters)
        self.reducer = reducer
        self._queued = False
        self._handles = [p.register_post_accumulate_grad_hook(self._on_gradient)
                         for p in self.parameters]

    def _on_gradient(self, _):
        """Queue the sum once per backward pass."""
        if not self._queued:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self.sum_gradients)

    @torch.no_grad()
    def sum_gradients(self):
        """Replace each replicated parameter's gradient by its sum over processes."""
        self._queued = False
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.parameters]
        flat = self.reducer.sum(torch.cat([grad.reshape(-1) for grad in grads]))
        start = 0
        for parameter, grad in zip(self.parameters, grads):
            size = grad.numel()
            parameter.grad = flat[start:start + size].view_as(parameter).clone()
            start += size

    def remove(self):
        """Stop summing (remove the hooks)."""
        for handle in self._handles:
            handle.remove()
