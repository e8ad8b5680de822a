"""The pieces behind ``cn.torch.utils.data``, one job per module: ``seeds`` (where random
numbers come from), ``collate`` (samples -> batches), ``datasets``, ``samplers`` (indices),
``workers`` (the thread pool behind ``num_workers``) and ``loader`` (``DataLoader``)."""
