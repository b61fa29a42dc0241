"""Command line for the knowledge base.

    python -m salesbot.knowledge build [--rebuild]   read shop documents, embed what changed (make knowledge)
    python -m salesbot.knowledge search "вопрос"     the chunks the fallback would give the LLM
    python -m salesbot.knowledge eval                recall@3 of each retriever (make retrieval)
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from salesbot.settings import PROJECT_ROOT, get_settings


def _embedder(settings):
    from salesbot.knowledge.retrieval import SentenceEmbedder

    return SentenceEmbedder(settings.embedding_model)


def cmd_build(args) -> int:
    from salesbot.knowledge.builder import build_knowledge

    settings = get_settings()
    started = time.monotonic()
    print(f"knowledge: {settings.knowledge_docs_dir} -> {settings.knowledge_dir} "
          f"(EMBEDDING_MODEL={settings.embedding_model})", file=sys.stderr)
    report = build_knowledge(settings.knowledge_docs_dir, settings.knowledge_dir, _embedder(settings),
                             settings.embedding_model, progress=not args.quiet, rebuild=args.rebuild)
    print(f"knowledge: {report.summary()} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    for source, reason in report.skipped:
        print(f"knowledge: WARNING skipped {source}: {reason}", file=sys.stderr)
    return 0


def cmd_search(args) -> int:
    from salesbot.knowledge import open_retriever

    retriever = open_retriever(get_settings())
    for passage in retriever.search(" ".join(args.query), args.k):
        print(f"--- {passage.source} · {passage.section} · score {passage.score}\n{passage.text}\n")
    return 0


def cmd_eval(args) -> int:
    from salesbot.knowledge.builder import build_knowledge
    from salesbot.knowledge.evaluation import compare, format_table, load_questions
    from salesbot.knowledge.store import KnowledgeStore

    settings = get_settings()
    questions = load_questions(Path(args.questions))
    embedder = _embedder(settings)
    with tempfile.TemporaryDirectory() as tmp:
        build_knowledge(settings.knowledge_docs_dir, Path(tmp), embedder, settings.embedding_model)
        passages, vectors = KnowledgeStore(Path(tmp)).load()
    results = compare(passages, vectors, embedder, questions)
    print(f"retrieval check: {len(questions)} questions, {len(passages)} chunks from {settings.knowledge_docs_dir}, "
          f"EMBEDDING_MODEL={settings.embedding_model}, default RETRIEVER={settings.retriever}")
    print(format_table(list(results.values())))
    if args.verbose:
        for result in results.values():
            print(f"\nmisses of {result.name}:")
            print("\n".join(f"  {line}" for line in result.misses) or "  none")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salesbot.knowledge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build or update the knowledge base")
    build.add_argument("--rebuild", action="store_true", help="re-embed every file")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    search = sub.add_parser("search", help="show the chunks retrieved for a question")
    search.add_argument("query", nargs="+")
    search.add_argument("-k", type=int, default=4)
    evaluate = sub.add_parser("eval", help="recall@3 of the retrievers on the Russian retrieval check")
    evaluate.add_argument("--questions", default=str(PROJECT_ROOT / "tests" / "retrieval_questions.yml"))
    evaluate.add_argument("-v", "--verbose", action="store_true", help="list the questions each retriever missed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return {"build": cmd_build, "search": cmd_search, "eval": cmd_eval}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
