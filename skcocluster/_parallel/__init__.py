"""Data-parallel training over row shards (``skcocluster.distributed``)."""
