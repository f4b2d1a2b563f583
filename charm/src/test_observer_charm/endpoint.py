"""What the charm's own single-relation requirers share: the endpoint, its one relation, and
writing a databag only when a value changes (a write that changes nothing would still wake the
other side with a relation-changed event)."""

from __future__ import annotations

import ops


class SingleRelationEndpoint(ops.Object):
    """An endpoint related at most once (`limit: 1`)."""

    def __init__(self, charm: ops.CharmBase, relation_name: str) -> None:
        super().__init__(charm, relation_name)
        self._charm = charm
        self.relation_name = relation_name

    @property
    def relation(self) -> ops.Relation | None:
        return self._charm.model.get_relation(self.relation_name)


def update_databag(databag: ops.RelationDataContent, wanted: dict[str, str]) -> None:
    if any(databag.get(key) != value for key, value in wanted.items()):
        databag.update(wanted)
