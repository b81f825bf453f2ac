"""``mtlgroup datasets``: what datasets are built in and which tasks they offer."""

from __future__ import annotations

from rich.table import Table

from mtlgroup.cli.app import app, stdout_console


@app.command("datasets")
def datasets_command() -> None:
    """List the built-in datasets, their tasks (kind, outputs, loss) and named task sets.

    Your own dataset is named by import path instead: --dataset package.module:function (see
    docs/your-data.md)."""
    from mtlgroup.data import available_datasets, dataset_entry

    console = stdout_console()
    for name in available_datasets():
        entry = dataset_entry(name)
        if entry.tasks is None:  # tasks come from the data (a table's target columns)
            console.print(f"[bold]{name}[/bold]: {entry.description}")
            console.print("  tasks: one per target column, known once the data is named "
                          "(see docs/your-data.md)\n")
            continue
        table = Table(title=f"{name}: {entry.description}", title_justify="left")
        for column in ("task", "kind", "outputs", "loss", "metrics"):
            table.add_column(column)
        for task in entry.tasks():
            loss = task.loss if isinstance(task.loss, str) else getattr(task.loss, "__name__", "fn")
            metrics = ", ".join(m.name for m in task.metrics)
            table.add_row(task.name, task.kind, str(task.channels), loss, metrics)
        console.print(table)
        for set_name, tasks in entry.task_sets.items():
            console.print(f"  task set {set_name}: {','.join(tasks)}")
        console.print()
