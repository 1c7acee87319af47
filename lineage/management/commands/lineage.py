from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from lineage.presenters import graph_as_dict
from lineage.services import (
    MAX_DEPTH,
    MAX_NODES,
    Direction,
    LineageGraph,
    TreeRow,
    lineage_graph,
)
from registry.actors import Actor, require_view_permission
from registry.cli import DataTracCommand, terminal_safe
from registry.models import SHORT_HASH as SHORT
from registry.models import Dataset


class Command(DataTracCommand):
    help = "Show a dataset's ancestors and descendants, or link/unlink two datasets."
    epilog = """examples:
  datatrac lineage 3fa2c1                          # parents and children, as trees
  datatrac lineage 3fa2c1 --depth 5 --json
  datatrac lineage --parent 3fa2c1 --child 9be04d --note "dedup + type fixes"
  datatrac lineage --parent 3fa2c1 --child 9be04d --remove
"""

    def checks_migrations_first(self, options: dict[str, Any]) -> bool:
        return False  # reads, or one link in one transaction

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", nargs="?", help="the dataset to show (hash or prefix)")
        parser.add_argument(
            "--depth",
            type=int,
            default=3,
            help=f"hops to show each way (3; at most {MAX_DEPTH} are walked)",
        )
        parser.add_argument("--parent", metavar="HASH", help="link: the dataset it was made from")
        parser.add_argument("--child", metavar="HASH", help="link: the dataset made from it")
        parser.add_argument("--note", default="", help="link: how the child was made")
        parser.add_argument("--remove", action="store_true", help="unlink --parent from --child")
        parser.add_argument("--json", action="store_true", help="print JSON only on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        linking = options["parent"] is not None or options["child"] is not None
        if linking:
            if options["hash"]:
                raise CommandError("give either HASH to show, or --parent and --child to link")
            if not (options["parent"] and options["child"]):
                raise CommandError("linking needs both --parent and --child")
            self.link(options)
            return
        if not options["hash"]:
            raise CommandError("give a dataset HASH, or --parent and --child (see --help)")
        if options["depth"] < 1:
            raise CommandError("--depth must be at least 1")
        require_view_permission(actor=Actor.for_cli())
        dataset = Dataset.objects.resolve(options["hash"])
        graph = lineage_graph(dataset=dataset, depth=options["depth"])
        if options["json"]:
            self.print_json(graph_as_dict(graph))
        else:
            self.print_trees(graph)

    def link(self, options: dict[str, Any]) -> None:
        client = self.client()
        if options["remove"]:
            # Not a link: the client's NotFound ("... is not a parent of ..."), one line.
            link = client.unlink(options["parent"], options["child"])
            self.stdout.write(f"unlinked {link.parent[:SHORT]} -> {link.child[:SHORT]}")
            return
        link = client.link(options["parent"], options["child"], note=options["note"])
        verb = "linked" if link.created else "already linked"
        self.stdout.write(f"{verb} {link.parent[:SHORT]} -> {link.child[:SHORT]}")

    def print_trees(self, graph: LineageGraph) -> None:
        def label(node_id: int) -> str:
            dataset = graph.nodes[node_id]
            return terminal_safe(str(dataset)) + ("" if dataset.is_available else " (deleted)")

        def row_text(row: TreeRow) -> str:
            if not row.repeat:
                return label(row.node_ids[0])
            named = ", ".join(label(i) for i in row.node_ids[:REFERENCES_NAMED])
            rest = len(row.node_ids) - REFERENCES_NAMED
            return f"{named}{f' and {rest} more' if rest > 0 else ''} (see above)"

        center = graph.center.pk
        lines: list[str] = []
        sides: tuple[tuple[str, Direction], ...] = (("ancestors", "up"), ("descendants", "down"))
        for title, direction in sides:
            tree = graph.tree(direction=direction, max_rows=TREE_ROWS)
            lines.append(f"{title} of {label(center)}")
            if not tree.rows:
                lines.append("└── (none)")
            for row in tree.rows:
                guides = "".join("    " if last else "│   " for last in row.lasts[:-1])
                branch = "└── " if row.lasts[-1] else "├── "
                lines.append(f"{guides}{branch}{row_text(row)}")
            if tree.more:
                more = f"{tree.more}{'+' if tree.more_capped else ''} more"
                if tree.beyond_depth_only:
                    lines.append(f"  ... {more} beyond depth {graph.depth} (--depth N for more)")
                else:
                    lines.append(
                        f"  ... {more} not shown: `--json` lists up to {MAX_NODES} each way, "
                        "the web explorer draws them, or show one of them by its hash"
                    )
        self.stdout.write("\n".join(lines))


# Rows each tree prints at most (datasets and references to them): a tree of a
# 500-wide fan-out stays a screenful or two; the rest is counted.
TREE_ROWS = 100
# A reference row names this many of the datasets it refers to, and counts the rest.
REFERENCES_NAMED = 2
