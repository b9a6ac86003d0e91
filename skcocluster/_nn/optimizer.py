"""Adam, on torch's own kernels but without ``torch.optim``.

Building the first ``torch.optim`` optimiser of a process imports ``torch._dynamo``, which
costs one to two seconds: as long as a whole small fit. This Adam calls the same kernels
(the fused one, ``torch._fused_adam_``, or the per-tensor arithmetic of torch's default
CPU path), so a step gives what ``torch.optim.Adam`` gives, without that import.
"""

import torch

BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-8


class Adam:
    """Adam (Kingma and Ba) with torch's defaults: betas (0.9, 0.999), eps 1e-8.

    Parameters
    ----------
    parameters : iterable of Parameter
    lr : float
        Step size.
    weight_decay : float, default=0.0
        L2 penalty added to the gradient (Adam's coupled weight decay).
    fused : bool, default=False
        Use torch's fused kernel (one kernel per step for all parameters: CUDA, and the
        CPU from torch 2.4), falling back to the per-tensor update where the device has
        none. False is the per-tensor update of ``torch.optim.Adam`` on the CPU.

    Notes
    -----
    As ``torch.optim.Adam``, a parameter whose gradient is None is left alone, and its
    moments start at its first gradient.
    """

    def __init__(self, parameters, lr, *, weight_decay=0.0, fused=False):
        self.parameters = list(parameters)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.fused = bool(fused)
        self.state = {}

    def zero_grad(self, set_to_none=True):
        """Forget the gradients (set them to None, so unused parameters keep None).

        Parameters
        ----------
        set_to_none : bool, default=True
            Kept for the ``torch.optim`` signature; gradients are always set to None.
        """
        for parameter in self.parameters:
            parameter.grad = None

    def _moments(self, parameter):
        """The first and second moments and the step count of one parameter."""
        state = self.state.get(parameter)
        if state is None:
            step = (torch.zeros((), dtype=torch.float32, device=parameter.device) if self.fused
                    else torch.tensor(0.0, dtype=torch.get_default_dtype()))
            state = self.state[parameter] = (
                torch.zeros_like(parameter, memory_format=torch.preserve_format),
                torch.zeros_like(parameter, memory_format=torch.preserve_format), step)
        return state

    @torch.no_grad()
    def step(self):
        """One Adam step on every parameter that has a gradient."""
        parameters = [p for p in self.parameters if p.grad is not None]
        if not parameters:
            return
        moments = [self._moments(p) for p in parameters]
        if self.fused:
            try:
                self._fused_step(parameters, moments)
                return
            except (AttributeError, NotImplementedError, RuntimeError):
                self._fall_back(parameters, moments)
                moments = [self.state[p] for p in parameters]
        for parameter, (exp_avg, exp_avg_sq, step) in zip(parameters, moments):
            self._tensor_step(parameter, exp_avg, exp_avg_sq, step)

    def _fused_step(self, parameters, moments):
        """All parameters in one call of torch's fused kernel."""
        exp_avgs, exp_avg_sqs, steps = (list(column) for column in zip(*moments))
        torch._foreach_add_(steps, 1)
        try:
            torch._fused_adam_(parameters, [p.grad for p in parameters], exp_avgs,
                               exp_avg_sqs, [], steps, amsgrad=False, lr=self.lr,
                               beta1=BETA1, beta2=BETA2, weight_decay=self.weight_decay,
                               eps=EPS, maximize=False, grad_scale=None, found_inf=None)
        except (AttributeError, NotImplementedError, RuntimeError):
            torch._foreach_sub_(steps, 1)
            raise

    def _fall_back(self, parameters, moments):
        """Switch to the per-tensor update (this device has no fused kernel)."""
        self.fused = False
        for parameter, (exp_avg, exp_avg_sq, step) in zip(parameters, moments):
            self.state[parameter] = (exp_avg, exp_avg_sq,
                                     torch.tensor(float(step), dtype=torch.get_default_dtype()))

    def _tensor_step(self, parameter, exp_avg, exp_avg_sq, step):
        """torch's per-tensor Adam update of one parameter (same operations, same order)."""
        step += 1
        grad = parameter.grad
        if self.weight_decay != 0:
            grad = grad.add(parameter, alpha=self.weight_decay)
        exp_avg.lerp_(grad, 1 - BETA1)
        exp_avg_sq.mul_(BETA2).addcmul_(grad, grad, value=1 - BETA2)
        count = step.item()
        step_size = self.lr / (1 - BETA1 ** count)
        bias_correction2_sqrt = (1 - BETA2 ** count) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(EPS)
        parameter.addcdiv_(exp_avg, denom, value=-step_size)
