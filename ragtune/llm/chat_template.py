"""A model folder's chat template rendered with jinja2, as transformers' ``apply_chat_template`` renders it.

The numpy decoder must see exactly the prompt transformers builds, without importing transformers:
the same template file (``chat_template.jinja``, else ``tokenizer_config.json``'s ``chat_template``),
the same sandboxed environment settings and the same variables (the special tokens, ``messages``,
``add_generation_prompt``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")


def _token_text(value: Any) -> Any:
    return value.get("content") if isinstance(value, dict) else value


class ChatTemplate:
    """Renders conversations (``[{"role": ..., "content": ...}]``) into the prompt string.

    Raises:
        ValueError: the folder has no chat template.
    """

    def __init__(self, folder: str | Path) -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        folder = Path(folder)
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            config = {}
        source = folder / "chat_template.jinja"
        template = source.read_text(encoding="utf-8") if source.is_file() else config.get("chat_template")
        if isinstance(template, list):  # named templates: transformers uses "default"
            template = next((t.get("template") for t in template if t.get("name") == "default"), None)
        if not isinstance(template, str):
            raise ValueError(f"{folder} has no chat template (chat_template.jinja or tokenizer_config.json)")
        self.special = {name: _token_text(config.get(name)) for name in SPECIAL_TOKENS if config.get(name)}

        def raise_exception(message: str) -> None:
            from jinja2.exceptions import TemplateError

            raise TemplateError(message)

        def tojson(
            x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False
        ) -> str:
            return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = tojson
        env.globals["raise_exception"] = raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._template = env.from_string(template)

    def render(self, conversation: list[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        return str(
            self._template.render(
                messages=conversation,
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self.special,
            )
        )


__all__ = ["ChatTemplate"]
