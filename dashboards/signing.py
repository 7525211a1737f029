"""The electronic signature's fields, the same on every page that signs (medtower/signatures.py)."""

from __future__ import annotations

from dash import dcc, html

from medtower.signatures import MEANINGS, Signing


def sign_fields(prefix: str, why: str, shown: bool = False) -> html.Div:
    """The signature's three fields (Part 11 §11.200(a)(1): user name and password at every signing, and
    the meaning), ids ``<prefix>-user``, ``-password``, ``-meaning``."""
    return html.Div(
        [
            html.Strong("Electronic signature: "),
            html.Span(
                f"{why}: type your user name and password again and pick what your signature means.",
                className="section-note",
            ),
            html.Div(
                [
                    html.Label(
                        ["User name ", dcc.Input(id=f"{prefix}-user", type="text", autoComplete="off")],
                        style={"marginRight": "1em"},
                    ),
                    html.Label(
                        [
                            "Password ",
                            dcc.Input(id=f"{prefix}-password", type="password", autoComplete="off"),
                        ],
                        style={"marginRight": "1em"},
                    ),
                    html.Label(
                        [
                            "Meaning",
                            dcc.Dropdown(
                                id=f"{prefix}-meaning",
                                options=[
                                    {"label": f"{m}: {text}", "value": m} for m, text in MEANINGS.items()
                                ],
                                placeholder="what your signature means",
                            ),
                        ],
                        style={"display": "inline-block", "minWidth": "22em", "verticalAlign": "top"},
                    ),
                ],
                style={"margin": "0.3em 0"},
            ),
        ],
        id=prefix,
        className="sign-fields",
        style={"margin": "0.5em 0"} if shown else {"display": "none"},
    )


def signing_of(user: str | None, password: str | None, meaning: str | None) -> Signing | None:
    """The signature fields as typed; None when all are empty (the store then says what is needed)."""
    if not (user or password or meaning):
        return None
    return Signing(user or "", password or "", meaning or "")
