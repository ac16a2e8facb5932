"""The person graph: which matched values belong to the same person (a union-find kept in SQLite).

Like Meta's graph it is global to the sandbox (every audience, every account; EXTERN_ID nodes carry
their account, :mod:`.matching`), survives restarts with ``--data`` and is forgotten by a reset.
A node is the 64-bit digest of one matched value; ``person_nodes`` maps each node to its person (the
node that founded it); ``persons`` keeps each person's node count so that a merge relabels the smaller
person into the larger (amortised O(n log n) over a run).  Members point at their person directly
(``members.person``); :class:`~.members.MemberStore` relabels them when persons merge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .sessions import TablesOnStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS person_nodes (node INTEGER PRIMARY KEY, person INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS person_nodes_person ON person_nodes (person);
CREATE TABLE IF NOT EXISTS persons (person INTEGER PRIMARY KEY, size INTEGER NOT NULL);
"""
#: Values per ``json_each`` look-up (one query per chunk).
CHUNK = 50_000


def chunks(values: list[int], size: int = CHUNK) -> Iterator[list[int]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Linked:
    """What :meth:`PersonGraph.plan` decided for a batch of matched rows."""

    #: node (or former person id) → the person it belongs to after the batch
    person: dict[int, int] = field(default_factory=dict)
    #: (absorbed person, surviving person), in the order they must be applied
    merges: list[tuple[int, int]] = field(default_factory=list)
    #: nodes new to the graph → their person
    new_nodes: dict[int, int] = field(default_factory=dict)


class PersonGraph(TablesOnStore):
    """Union-find of matched values on the store's connection; callers hold the store lock."""

    SCHEMA = _SCHEMA

    def lookup(self, nodes: Iterable[int]) -> dict[int, int]:
        """``{node: person}`` for the nodes the graph holds."""
        found: dict[int, int] = {}
        sql = "SELECT node, person FROM person_nodes WHERE node IN (SELECT value FROM json_each(?))"
        for part in chunks(sorted(set(nodes))):
            found.update(self._db.execute(sql, (json.dumps(part),)).fetchall())
        return found

    def sizes(self, persons: Iterable[int]) -> dict[int, int]:
        """``{person: node count}``."""
        found: dict[int, int] = {}
        sql = "SELECT person, size FROM persons WHERE person IN (SELECT value FROM json_each(?))"
        for part in chunks(sorted(set(persons))):
            found.update(self._db.execute(sql, (json.dumps(part),)).fetchall())
        return found

    def plan(self, groups: Iterable[list[int]], graph: dict[int, int]) -> Linked:
        """Union the nodes of each group (the links of one matched row) with what the graph already holds.

        Deterministic: a group of existing persons keeps the one with the most nodes (then the smallest
        id); a group of new nodes only is founded by its smallest node.
        """
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.setdefault(root, root) != root:
                root = parent[root]
            while parent[x] != root:
                parent[x], x = root, parent[x]
            return root

        nodes: set[int] = set()
        for links in groups:
            nodes.update(links)
            keys = [graph.get(n, n) for n in links]
            first = find(keys[0])
            for key in keys[1:]:
                other = find(key)
                if other != first:
                    parent[other] = first
        existing = {graph[n] for n in nodes if n in graph}
        size = self.sizes(existing)
        components: dict[int, list[int]] = {}
        for key in list(parent):
            components.setdefault(find(key), []).append(key)
        out = Linked()
        for keys in components.values():
            old = [k for k in keys if k in existing]
            survivor = max(old, key=lambda p: (size.get(p, 0), -p)) if old else min(keys)
            for key in keys:
                out.person[key] = survivor
            out.merges += [(p, survivor) for p in sorted(old) if p != survivor]
        for node in nodes:
            if node not in graph:
                out.new_nodes[node] = out.person[node]
            else:
                out.person[node] = out.person[graph[node]]
        return out

    def apply(self, linked: Linked) -> None:
        """Write a plan's merges (node relabels, sizes) and new nodes; members are relabelled by the caller."""
        db = self._db
        for small, big in linked.merges:
            db.execute("UPDATE person_nodes SET person=? WHERE person=?", (big, small))
            moved = db.execute("SELECT size FROM persons WHERE person=?", (small,)).fetchone()
            db.execute("DELETE FROM persons WHERE person=?", (small,))
            db.execute("UPDATE persons SET size = size + ? WHERE person=?", (moved[0] if moved else 0, big))
        db.executemany("INSERT INTO person_nodes (node, person) VALUES (?, ?)", linked.new_nodes.items())
        grown: dict[int, int] = {}
        for person in linked.new_nodes.values():
            grown[person] = grown.get(person, 0) + 1
        db.executemany(
            "INSERT INTO persons (person, size) VALUES (?1, ?2) ON CONFLICT(person) DO UPDATE SET size = size + ?2",
            grown.items(),
        )

    def count(self) -> tuple[int, int]:
        """(persons, nodes) in the graph."""
        persons = self._db.execute("SELECT COUNT(*) FROM persons").fetchone()[0]
        nodes = self._db.execute("SELECT COUNT(*) FROM person_nodes").fetchone()[0]
        return int(persons), int(nodes)

    def clear(self) -> None:
        """Forget every person (admin reset)."""
        self._db.execute("DELETE FROM person_nodes")
        self._db.execute("DELETE FROM persons")
