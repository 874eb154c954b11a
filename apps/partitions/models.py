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


class PartitionGrant(models.Model):
    """One grant of a partition's lease, kept for good: ``generation`` went to ``holder``
    (``host:pid``) at ``granted_at``. Written by ``claim_partition`` in the transaction that
    bumps the owner's generation, the time read from the database's clock once the owner row is
    locked: a decision of an older generation committed before it (its round held the row), so
    every such decision's ``decided_at`` is earlier (see docs/fencing.md)."""

    partition = models.PositiveSmallIntegerField()
    generation = models.PositiveBigIntegerField()
    holder = models.CharField(max_length=255)
    granted_at = models.DateTimeField()

    class Meta:
        ordering = ["partition", "generation"]
        constraints = [
            models.UniqueConstraint(
                fields=["partition", "generation"], name="partition_grant_once"
            ),
        ]

    def __str__(self) -> str:
        return f"partition {self.partition} generation {self.generation} to {self.holder}"
