from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from rich.text import Text
from rich.tree import Tree

from lineage.presenters import graph_as_dict
from lineage.services import LineageGraph, lineage_graph, link_datasets, unlink_datasets
from registry.cli import DataTracCommand
from registry.models import Dataset
from registry.services import Actor, require_view_permission


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
        parser.add_argument("--depth", type=int, default=3, help="hops to show each way (3)")
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
        parent = Dataset.objects.resolve(options["parent"])
        child = Dataset.objects.resolve(options["child"])
        actor = Actor.for_cli()
        if options["remove"]:
            if unlink_datasets(parent=parent, child=child, actor=actor):
                self.stdout.write(f"unlinked {parent.short_hash} -> {child.short_hash}")
            else:
                raise CommandError(f"{parent.short_hash} is not a parent of {child.short_hash}")
            return
        result = link_datasets(parent=parent, child=child, actor=actor, note=options["note"])
        if result.created:
            self.stdout.write(f"linked {parent.short_hash} -> {child.short_hash}")
        else:
            self.stdout.write(f"already linked {parent.short_hash} -> {child.short_hash}")

    def print_trees(self, graph: LineageGraph) -> None:
        def label(node_id: int) -> Any:
            text = self.text(str(graph.nodes[node_id]))
            if not graph.nodes[node_id].is_available:
                text.append(" (deleted)", style="dim")
            return text

        def grow(tree: Tree, node_id: int, step: int, seen: frozenset[int]) -> None:
            nxt = graph.parents_of(node_id) if step < 0 else graph.children_of(node_id)
            for other in nxt:
                if other in seen:
                    continue
                grow(tree.add(label(other)), other, step, seen | {other})

        center = graph.center.pk
        console = self.console()
        ancestors = Tree(self.text("ancestors of ").append_text(label(center)), guide_style="dim")
        grow(ancestors, center, -1, frozenset({center}))
        if not ancestors.children:
            ancestors.add(Text("(none)", style="dim"))
        descendants = Tree(
            self.text("descendants of ").append_text(label(center)), guide_style="dim"
        )
        grow(descendants, center, 1, frozenset({center}))
        if not descendants.children:
            descendants.add(Text("(none)", style="dim"))
        console.print(ancestors)
        if graph.ancestors_beyond:
            more = f"{graph.ancestors_beyond}{'+' if graph.ancestors_capped else ''}"
            console.print(f"  ... {more} more beyond depth {graph.depth}")
        console.print(descendants)
        if graph.descendants_beyond:
            more = f"{graph.descendants_beyond}{'+' if graph.descendants_capped else ''}"
            console.print(f"  ... {more} more beyond depth {graph.depth}")
