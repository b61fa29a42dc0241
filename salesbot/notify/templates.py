"""Notification texts: event → Russian Jinja2 template, from the shop's `notifications.yml` (beside the
inventory, or NOTIFY_TEMPLATES_PATH), over the shop-neutral defaults shipped in this package.

Rendered in Jinja2's sandbox with StrictUndefined: a variable the request did not give is an error naming it,
never an empty gap in a customer's message. Variables: `name`, `reference`, `phone`, every key of the request's
`vars`, and the shop profile's (`shop_name`, `assistant_name`, `pickup_point`, `working_hours`, ...). Filters:
`money` (Babel, the profile's currency), `date` and `datetime` (Babel, Russian: «5 декабря»).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import yaml
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

DEFAULTS_PATH = Path(__file__).resolve().parent / "default_templates.yml"
TEMPLATES_FILE_NAME = "notifications.yml"
LOCALE = "ru"
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


class TemplatesError(ValueError):
    """The templates file cannot be used; the message names the file and the event."""


class MissingVariable(ValueError):
    def __init__(self, name: str):
        super().__init__(f"template variable {name!r} is missing")
        self.name = name


class TemplateFailed(ValueError):
    """A template that fails for another reason (a value a filter cannot format)."""


def _plain_spaces(text: str) -> str:
    return text.replace("\xa0", " ").replace("\u202f", " ")  # not every phone renders narrow spaces


def _as_date(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise TemplateFailed(f"{value!r} is not a date (use YYYY-MM-DD or an ISO date-time)")


def _load_file(path: Path) -> Dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise TemplatesError(f"Notification templates {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TemplatesError(f"Notification templates {path} are not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise TemplatesError(f"Notification templates {path}: expected a mapping of event → text")
    templates: Dict[str, str] = {}
    for event, text in data.items():
        if not isinstance(event, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", event):
            raise TemplatesError(f"Notification templates {path}: event name {event!r} must be snake_case")
        if not isinstance(text, str) or not text.strip():
            raise TemplatesError(f"Notification templates {path}: event {event!r} has no text")
        templates[event] = text.strip()
    return templates


@dataclass(frozen=True)
class CurrencyFormat:
    code: str = "KZT"
    symbol: str = "₸"
    pattern: str = "{amount} {symbol}"
    decimals: int = 0


class NotificationTemplates:
    def __init__(self, templates: Mapping[str, str], currency: Optional[CurrencyFormat] = None,
                 profile_vars: Optional[Mapping[str, str]] = None, source: str = ""):
        self.currency = currency or CurrencyFormat()
        self.profile_vars = dict(profile_vars or {})
        self.source = source
        self.env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.env.filters.update(money=self.money, date=self.date, datetime=self.datetime)
        self.templates = {}
        for event, text in templates.items():
            try:
                self.templates[event] = self.env.from_string(text)
            except TemplateError as exc:
                raise TemplatesError(f"Notification templates {source}: event {event!r}: {exc}") from exc

    @classmethod
    def load(cls, path: Optional[Path], currency: Optional[CurrencyFormat] = None,
             profile_vars: Optional[Mapping[str, str]] = None) -> "NotificationTemplates":
        """The defaults, with the shop's file (when it exists) replacing or adding events."""
        templates = _load_file(DEFAULTS_PATH)
        source = str(DEFAULTS_PATH)
        if path is not None and Path(path).is_file():
            templates.update(_load_file(Path(path)))
            source = str(path)
        return cls(templates, currency, profile_vars, source)

    @property
    def events(self) -> list:
        return sorted(self.templates)

    def money(self, amount: Any) -> str:
        try:
            value = float(amount)
        except (TypeError, ValueError):
            raise TemplateFailed(f"{amount!r} is not an amount of money") from None
        pattern = "#,##0" if self.currency.decimals == 0 else "#,##0." + "0" * int(self.currency.decimals)
        number = _plain_spaces(format_decimal(value, format=pattern, locale=LOCALE))
        return self.currency.pattern.format(amount=number, symbol=self.currency.symbol, code=self.currency.code)

    def date(self, value: Any, pattern: str = "d MMMM") -> str:
        return _plain_spaces(format_date(_as_date(value), pattern, locale=LOCALE))

    def datetime(self, value: Any, pattern: str = "d MMMM, HH:mm") -> str:
        moment = _as_date(value)
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime.combine(moment, dt.time())
        return _plain_spaces(format_datetime(moment, pattern, locale=LOCALE))

    def render(self, event: str, context: Mapping[str, Any]) -> str:
        """Raises KeyError (unknown event), MissingVariable or TemplateFailed."""
        template = self.templates[event]
        values = {**self.profile_vars, **context}
        try:
            text = template.render(values)
        except UndefinedError as exc:
            match = _UNDEFINED_NAME.search(str(exc))
            name = next((g for g in match.groups() if g), "?") if match else "?"
            raise MissingVariable(name) from None
        except TemplateFailed:
            raise
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateFailed(f"template of {event!r} failed: {exc}") from None
        text = re.sub(r"[ \t]+\n", "\n", text).strip()
        if not text:
            raise TemplateFailed(f"template of {event!r} rendered an empty message")
        return text
