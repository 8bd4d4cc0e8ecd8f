"""``ragtune finetune prepare|train|status|cancel|eval|diff|generate`` (``ragtune models`` is in :mod:`.models`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragtune.choices import Backend
from ragtune.cli.common import JsonFlag, console, emit_json, fail, progress_bar, show_table, with_settings
from ragtune.cli.common import out as stdout
from ragtune.cli.main import app

if TYPE_CHECKING:
    from ragtune.config import Settings
    from ragtune.index.base import Index

finetune_app = typer.Typer(
    help="Prepare data, fine-tune (OpenAI or local LoRA), evaluate, keep fresh.", no_args_is_help=True
)
app.add_typer(finetune_app, name="finetune")

NameOpt = Annotated[str, typer.Option("--name", help="Registry name of the fine-tuned model.")]
PollOpt = Annotated[float, typer.Option("--poll-interval", help="OpenAI: seconds between status polls.")]


# -- prepare ---------------------------------------------------------------------------------------
@finetune_app.command()
@with_settings
def prepare(
    data: Annotated[list[Path], typer.Argument(help="JSONL/CSV files or folders of examples.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for train/val/rejects/report.")],
    labels: Annotated[
        list[str] | None, typer.Option("--labels", help="Allowed labels (repeat or comma-separate).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Target model (tokens, limit, cost).")] = None,
    provider: Annotated[str, typer.Option("--provider", help="openai or local.")] = "openai",
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of documents held out.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/validation split.")] = 0,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Per-example token limit.")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs assumed for the cost estimate.")] = 3,
    system_prompt: Annotated[
        str | None, typer.Option("--system-prompt", help="System message for non-chat records.")
    ] = None,
    embed_dedupe: Annotated[
        bool, typer.Option("--embed-dedupe", help="Also drop near-duplicates by embedding cosine.")
    ] = False,
    threshold: Annotated[float, typer.Option("--threshold", help="Cosine for --embed-dedupe.")] = 0.95,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Normalise, fix, validate, dedupe and split DATA into OpenAI chat fine-tuning files."""
    from ragtune.finetune.prepare import DEFAULT_OPENAI_BASE, PrepareConfig
    from ragtune.finetune.prepare import prepare as run_prepare
    from ragtune.llm.registry import LOCAL_MODEL_ID

    if provider not in ("openai", "local"):
        fail(f"--provider must be openai or local, got {provider!r}", code=2)
    label_set = tuple(x.strip() for raw in labels or [] for x in raw.split(",") if x.strip()) or None
    config = PrepareConfig(
        model=model or (LOCAL_MODEL_ID if provider == "local" else DEFAULT_OPENAI_BASE),
        provider=provider,  # type: ignore[arg-type]
        labels=label_set,
        val_fraction=val_fraction,
        seed=seed,
        max_tokens=max_tokens,
        epochs=epochs,
        system_prompt=system_prompt,
        near_duplicate_threshold=threshold,
    )
    embedder = None
    if embed_dedupe:
        from ragtune.embeddings.factory import make_embedder

        embedder = make_embedder(settings)
    with progress_bar("prepare") as bar:
        report = run_prepare(data, out, config, embedder=embedder, progress=bar)
    if json_out:
        emit_json(report)
        return
    stdout.print(
        f"read {report.read}: kept {report.kept} (train {report.train}, validation {report.val}), "
        f"rejected {report.rejected}; {report.fixes.total} formatting fixes",
        highlight=False,
    )
    for code, count in report.rejected_by_code.items():
        stdout.print(f"  [yellow]{code}[/]: {count}", highlight=False)
    tokens = report.tokens
    stdout.print(
        f"tokens: {tokens.train} per epoch (train), {tokens.total} total, max {tokens.max_example} per example "
        f"(limit {tokens.limit}); est. cost {tokens.epochs} epochs on {report.model}: ${report.estimated_cost_usd:.4f}",
        highlight=False,
    )
    stdout.print(f"wrote {out}/train.jsonl, val.jsonl, rejects.jsonl, report.json", highlight=False)


# -- train -------------------------------------------------------------------------------------------
TRAINER_HELP = "local (LoRA on SmolLM2) or openai."


@finetune_app.command()
@with_settings(backend_flag="--index-backend")
def train(
    data: Annotated[Path, typer.Option("--data", help="Prepared folder or a train JSONL file.")],
    trainer: Annotated[str | None, typer.Option("--trainer", help=TRAINER_HELP)] = None,
    legacy_trainer: Annotated[
        str | None, typer.Option("--backend", help="Deprecated spelling of --trainer.", hidden=True)
    ] = None,
    name: NameOpt = "finetuned",
    val: Annotated[Path | None, typer.Option("--val", help="Validation JSONL (default: DIR/val.jsonl).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs (OpenAI default: auto).")] = None,
    learning_rate: Annotated[
        float | None, typer.Option("--learning-rate", help="Local: learning rate; OpenAI: multiplier.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="OpenAI base model.")] = None,
    suffix: Annotated[str | None, typer.Option("--suffix", help="OpenAI model id suffix.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Local adapter folder (default STORE/adapters/NAME).")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="OpenAI: start the job and return its id.")] = False,
    poll_interval: PollOpt = 10.0,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Fine-tune on prepared data and register the result as NAME."""
    from ragtune.finetune.dataset import load_training_data
    from ragtune.finetune.trainers import TrainOptions, make_trainer

    kind = _trainer_kind(trainer, legacy_trainer)
    training = load_training_data(data, val_path=val)
    options = TrainOptions(
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        model=model,
        suffix=suffix,
        output_dir=out,
        poll_interval=poll_interval,
    )
    index = _index_for(training, settings)
    job = make_trainer(kind, training, settings=settings, name=name, options=options, index=index)
    status = job.start()
    if no_wait:
        _print_status(status, json_out)
        return
    if not json_out:
        console.print(f"{kind} job {status.id}: {len(training.train)} train / {len(training.val)} validation examples")
    with progress_bar("finetune") as bar:
        entry = job.wait(progress=_with_loss(bar))
    if json_out:
        emit_json({"status": job.status().model_dump(mode="json"), "model": entry.model_dump(mode="json")})
        return
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in entry.metrics.items())
    console.print(f"registered [bold]{entry.name}[/] ({entry.provider}:{entry.model_id}) {metrics}", highlight=False)


def _trainer_kind(trainer: str | None, legacy: str | None) -> str:
    """``--trainer``, or the deprecated ``--backend local|openai`` spelling (with a warning on stderr)."""
    from ragtune.finetune.trainers import TRAINERS

    flag, kind = "--trainer", trainer or "local"
    if legacy is not None:
        console.print(
            "[yellow]warning:[/] `finetune train --backend local|openai` is deprecated; use --trainer "
            "(the index backend is --index-backend)",
            highlight=False,
        )
        if trainer is not None and trainer != legacy:
            fail(f"--trainer {trainer} and --backend {legacy} disagree; pass only --trainer", code=2)
        flag, kind = ("--backend", legacy) if trainer is None else (flag, kind)
    if kind not in TRAINERS:
        fail(f"{flag} must be {' or '.join(TRAINERS)}, got {kind!r}", code=2)
    return kind


def _with_loss(bar: Any) -> Any:
    """Forward events to the bar and show the latest loss in the phase's description."""

    def forward(event: Any) -> None:
        bar(event)
        metrics = getattr(event, "metrics", {}) or {}
        shown = {k: v for k, v in metrics.items() if "loss" in k}
        task = bar.tasks.get(event.phase)
        if shown and task is not None:
            text = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            bar.progress.update(task, description=f"{bar.description}: {event.phase} {text}")

    return forward


# -- status / cancel -------------------------------------------------------------------------------
@finetune_app.command()
@with_settings
def status(
    job_id: Annotated[str, typer.Argument(help="OpenAI job id (ftjob-...) or a local adapter folder.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job to the end and register the model.")] = False,
    poll_interval: PollOpt = 10.0,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Show a job's status; --wait resumes following it (e.g. after a crash) and registers the model."""
    if Path(job_id).is_dir():
        from ragtune.finetune.local_lora import read_manifest

        manifest = read_manifest(job_id)
        if json_out:
            emit_json(manifest)
        else:
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in manifest.get("metrics", {}).items())
            stdout.print(f"local adapter {job_id}: succeeded; {metrics}", highlight=False)
        return
    job = _attach(job_id, settings, poll_interval=poll_interval)
    if wait:
        with progress_bar("finetune") as bar:
            entry = job.wait(progress=_with_loss(bar))
        if not json_out:
            console.print(f"registered [bold]{entry.name}[/] ({entry.model_id})", highlight=False)
    _print_status(job.status(), json_out)


@finetune_app.command()
@with_settings
def cancel(
    job_id: Annotated[str, typer.Argument(help="OpenAI job id (ftjob-...).")],
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Cancel a running OpenAI fine-tuning job."""
    _print_status(_attach(job_id, settings).cancel(), json_out)


def _attach(job_id: str, settings: Settings, *, poll_interval: float = 10.0) -> Any:
    from ragtune.finetune.jobstore import JOBS_DIR, JobStore
    from ragtune.finetune.openai_job import OpenAIFineTuneJob, OpenAITrainConfig, openai_client
    from ragtune.finetune.trainers import registry_for

    return OpenAIFineTuneJob.attach(
        job_id,
        client=openai_client(settings),
        registry=registry_for(settings),
        jobs=JobStore(Path(settings.store) / JOBS_DIR),
        config=OpenAITrainConfig(poll_interval=poll_interval),
    )


def _print_status(status: Any, json_out: bool) -> None:
    if json_out:
        emit_json(status)
        return
    line = f"job {status.id}: {status.state.value}"
    if status.step is not None and status.total_steps:
        line += f" (step {status.step}/{status.total_steps})"
    if status.model_id:
        line += f" -> {status.model_id}"
    if status.error:
        line += f"; error: {status.error}"
    stdout.print(line, highlight=False)


# -- eval --------------------------------------------------------------------------------------------
@finetune_app.command("eval")
@with_settings
def eval_model(
    model: Annotated[str, typer.Argument(help="Registry name of the fine-tuned model.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Validation JSONL (default: the model's val.jsonl).")
    ] = None,
    schema: Annotated[Path | None, typer.Option("--schema", help="JSON schema file answers must satisfy.")] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Regex answers must fully match.")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Samples per prompt for consistency.")] = 3,
    limit: Annotated[int, typer.Option("--limit", help="Evaluate at most this many examples.")] = 50,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Local models: answer length.")] = 64,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Compare MODEL with its base model on held-out examples and store the metrics in the registry."""
    from ragtune.finetune.dataset import load_training_data, read_examples
    from ragtune.finetune.evaluate import EvalConfig, base_entry, evaluate_models, record_metrics
    from ragtune.finetune.prepare import VAL_FILE
    from ragtune.finetune.trainers import registry_for
    from ragtune.llm.factory import make_chat_model

    registry = registry_for(settings)
    entry = registry.get(model)
    if data is not None:
        examples = load_training_data(data).val if data.is_dir() else read_examples(data)
    else:
        folder = entry.extra.get("data")
        if not folder or not (Path(folder) / VAL_FILE).is_file():
            fail(f"Model {model!r} records no validation file; pass --data VAL.jsonl", code=2)
        examples = read_examples(Path(str(folder)) / VAL_FILE)
    json_schema = json.loads(schema.read_text(encoding="utf-8")) if schema is not None else None
    config = EvalConfig(
        json_schema=json_schema, pattern=pattern, samples=samples, limit=limit, max_new_tokens=max_new_tokens
    )
    base = base_entry(entry, registry)
    with progress_bar("eval") as bar:
        report = evaluate_models(
            make_chat_model(base, settings),
            make_chat_model(entry, settings),
            examples,
            config,
            base_name=base.name,
            tuned_name=entry.name,
            progress=bar,
        )
    record_metrics(registry, model, report)
    if json_out:
        emit_json(report)
    else:
        show_table(report.table())


# -- diff / generate --------------------------------------------------------------------------------
@finetune_app.command()
@with_settings
def diff(
    model: Annotated[str, typer.Argument(help="Registry name of the fine-tuned model.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for add.jsonl and drop.jsonl.")],
    data: Annotated[Path | None, typer.Option("--data", help="The model's prepared data folder.")] = None,
    generator: Annotated[str, typer.Option("--generator", help="template or chat (the base model).")] = "template",
    per_chunk: Annotated[int, typer.Option("--per-chunk", help="Pairs generated per chunk.")] = 2,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Write the examples to drop (stale documents) and add (changed and new documents) to retrain MODEL."""
    from ragtune.finetune.dataset import load_training_data
    from ragtune.finetune.retrain import retrain_diff
    from ragtune.finetune.trainers import registry_for
    from ragtune.workspace import Workspace

    registry = registry_for(settings)
    entry = registry.get(model)
    folder = data or (Path(entry.extra["data"]) if entry.extra.get("data") else None)
    if folder is None:
        fail(f"Model {model!r} records no training data folder; pass --data DIR", code=2)
        return
    training = load_training_data(folder)
    with Workspace(settings) as ws, progress_bar("diff") as bar:
        result = retrain_diff(
            entry, ws.index, training, _generator(generator, registry, settings), out, per_chunk=per_chunk, progress=bar
        )
    if json_out:
        emit_json(result)
        return
    stdout.print(
        f"{model}: {len(result.changed)} changed, {len(result.removed)} removed, {len(result.new)} new documents; "
        f"drop {result.drop} examples ({result.drop_path}), add {result.add} ({result.add_path})",
        highlight=False,
    )


@finetune_app.command()
@with_settings
def generate(
    out: Annotated[Path, typer.Option("--out", help="JSONL file of question-answer pairs.")],
    generator: Annotated[str, typer.Option("--generator", help="template or chat (the base model).")] = "template",
    per_chunk: Annotated[int, typer.Option("--per-chunk", help="Pairs per chunk.")] = 2,
    doc: Annotated[list[str] | None, typer.Option("--doc", help="Only these document ids (repeat).")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant to read.")] = None,
    json_out: JsonFlag = False,
    *,
    settings: Settings,
) -> None:
    """Generate question-answer pairs (with doc and chunk ids) from the indexed corpus."""
    from ragtune.finetune.generate import generate_pairs, write_pairs
    from ragtune.finetune.trainers import registry_for
    from ragtune.workspace import Workspace

    maker = _generator(generator, registry_for(settings), settings)
    with Workspace(settings) as ws, progress_bar("generate") as bar:
        pairs = generate_pairs(ws.index, maker, doc_ids=doc, per_chunk=per_chunk, tenant=tenant, progress=bar)
        count = write_pairs(pairs, out)
    if json_out:
        emit_json({"pairs": count, "out": str(out), "generator": generator})
    else:
        stdout.print(f"wrote {count} question-answer pairs to {out}", highlight=False)


def _generator(kind: str, registry: Any, settings: Settings) -> Any:
    from ragtune.finetune.generate import ChatQAGenerator, TemplateQAGenerator

    if kind == "template":
        return TemplateQAGenerator()
    if kind == "chat":
        from ragtune.llm.factory import make_chat_model

        return ChatQAGenerator(make_chat_model(registry.get("base"), settings, max_new_tokens=256))
    fail(f"--generator must be template or chat, got {kind!r}", code=2)


def _open_existing_index(settings: Settings) -> Index | None:
    """The store's index without loading the embedder, or ``None`` when there is none yet."""
    from ragtune.index.factory import open_index
    from ragtune.workspace import MANIFEST_NAME

    if settings.backend is Backend.EMBEDDED and not (Path(settings.store) / MANIFEST_NAME).is_file():
        return None
    try:
        return open_index(settings)
    except Exception as exc:  # freshness is advisory in a listing: show it as unknown
        console.print(f"[yellow]warning:[/] cannot open the index to check freshness: {exc}", highlight=False)
        return None


def _index_for(training: Any, settings: Settings) -> Index | None:
    """The index, only when some examples name a document without its hash (to fill the snapshot)."""
    if not any(e.source.doc_id and not e.source.doc_hash for e in training.examples):
        return None
    return _open_existing_index(settings)
