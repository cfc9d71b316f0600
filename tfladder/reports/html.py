"""HTML pages from Jinja2 templates (`templates/`), with every value escaped.

Autoescaping is on for every template and undefined names are errors: a student's name, code,
answers and failure messages (all of which a submission controls) reach a page only as escaped
text, so no submission can put markup or script into a student's or an instructor's browser.
"""

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("tfladder.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """The page `templates/<template>` with `context`, as a string."""
    return environment().get_template(template).render(**context)
