from django.db import models


class PartitionOwner(models.Model):
    """Who consumes a partition queue right now, as the owner itself reports it.

    Written only by the process that holds the partition's lease: once when it takes the lease
    (``generation`` goes up by one: the fencing token its decisions are checked against) and
    then every few seconds by its heartbeat. Read by watchdogs (the launcher, standby workers)
    and by readiness checks (``selectors.stale_partitions``).
    """

    partition = models.PositiveSmallIntegerField(unique=True)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(default=0)
    generation = models.PositiveBigIntegerField(default=0)
    acquired_at = models.DateTimeField(null=True, blank=True)
    # Null once the owner let go (a clean shutdown): nobody consumes the partition.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The last time the owner finished answering a doorbell (or took the lease).
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partition"]

    def __str__(self) -> str:
        return f"partition {self.partition}: {self.host}:{self.pid} (generation {self.generation})"

    @property
    def holder(self) -> str:
        return f"{self.host}:{self.pid}"
