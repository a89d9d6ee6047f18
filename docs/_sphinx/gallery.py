"""Turn ``tutorials/*.py`` into sphinx-gallery examples, and collect their figures.

The tutorials are jupytext "percent" scripts whose text cells are Markdown
(``# %% [markdown]``); sphinx-gallery wants a module docstring for the title and
reStructuredText in its text blocks. :func:`convert_tutorials` writes a converted copy of
each tutorial (the code is byte-for-byte the same) into a build folder, so the tutorials
themselves stay plain scripts. The tutorials save their figures as PNG files into
``--out`` and close them, so :class:`PNGScraper` collects the new PNG files after each
code block instead of the open matplotlib figures.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

GALLERY_HEADER = """\
Tutorials
=========

Eight runnable scripts, rendered here in their ``--quick`` mode (tiny settings, a minute
each) so every figure can be seen without installing anything. Their numbers only show
that the pipeline runs; each tutorial's text quotes the full-run results, and each runs
in full with ``python tutorials/<name>.py`` (see ``--help``).
"""

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_MATH = re.compile(r"(?<![\\$\w])\$([^$\n]+)\$(?![\w$])")
_UNDERLINES = "=-~^\"'"


def markdown_to_rst(lines: list[str], top_level: int = 1) -> list[str]:
    """Convert the Markdown of one tutorial text cell to reStructuredText.

    Parameters
    ----------
    lines : list of str
        The cell's lines without their ``# `` comment prefix.
    top_level : int
        The Markdown heading level that becomes the page title (``=`` underline).

    Returns
    -------
    list of str
        The reStructuredText lines: headings underlined, ```code``` doubled, links and
        ``$math$`` turned into their roles. Lists, emphasis and paragraphs are the same
        in both languages.
    """
    out: list[str] = []
    for line in lines:
        match = _HEADING.match(line)
        if match:
            level = max(len(match.group(1)) - top_level, 0)
            title = _inline(match.group(2).strip())
            if out and out[-1].strip():
                out.append("")
            out += [title, _UNDERLINES[min(level, len(_UNDERLINES) - 1)] * len(title), ""]
            continue
        out.append(_inline(line))
    return out


def _inline(text: str) -> str:
    text = _CODE.sub(lambda m: f"``{m.group(1)}``", text)
    text = _LINK.sub(lambda m: f"`{m.group(1)} <{m.group(2)}>`__", text)
    return _MATH.sub(lambda m: f":math:`{m.group(1)}`", text)


def convert_tutorial(source: Path) -> str:
    """The sphinx-gallery form of one percent-format tutorial.

    Parameters
    ----------
    source : Path
        A ``tutorials/NN_name.py`` script.

    Returns
    -------
    str
        The script with its first Markdown cell as the module docstring, the other
        Markdown cells as ``# %%`` reStructuredText blocks and the jupytext front matter
        dropped; the code is unchanged.
    """
    lines = source.read_text().splitlines()
    # jupytext front matter: "# ---" ... "# ---"
    if lines and lines[0].strip() == "# ---":
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "# ---")
        lines = lines[end + 1:]
    out: list[str] = []
    i = 0
    first_text = True
    while i < len(lines):
        line = lines[i]
        if line.startswith("# %% [markdown]"):
            j = i + 1
            text: list[str] = []
            while j < len(lines) and lines[j].startswith("#") and not lines[j].startswith("# %%"):
                text.append(lines[j][2:] if lines[j].startswith("# ") else lines[j][1:])
                j += 1
            rst = markdown_to_rst(text)
            if first_text and not any(o.strip() for o in out):
                out = []
                body = "\n".join(rst).replace('"""', r"\"\"\"").rstrip()
                out += ['r"""', *body.splitlines(), '"""', ""]
            else:
                out += ["# %%", *[f"# {r}".rstrip() for r in rst]]
            first_text = False
            i = j
            continue
        out.append(line)
        i += 1
    if first_text:
        raise ValueError(f"{source}: a tutorial must start with a Markdown title cell")
    return "\n".join(out) + "\n"


def convert_tutorials(source_dir: Path, target_dir: Path) -> list[Path]:
    """Write the converted tutorials and the gallery header into ``target_dir``.

    Parameters
    ----------
    source_dir : Path
        The ``tutorials/`` folder.
    target_dir : Path
        The gallery's source folder (rewritten only where a file changed).

    Returns
    -------
    list of Path
        The converted scripts.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = {"GALLERY_HEADER.rst": GALLERY_HEADER}
    for source in sorted(source_dir.glob("[0-9][0-9]_*.py")):
        wanted[source.name] = convert_tutorial(source)
    for stale in target_dir.iterdir():
        if stale.name not in wanted:
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    for name, text in wanted.items():
        path = target_dir / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        if name.endswith(".py"):
            written.append(path)
    return written


class ResetArgv:
    """``reset_argv`` for sphinx-gallery: run each tutorial as ``--quick --out DIR``.

    It also sets ``__file__`` (sphinx-gallery runs examples without one) to the
    tutorial's own path, so that a tutorial finds its data as it does when run from
    ``tutorials/``.
    """

    def __init__(self, out_root: Path, tutorials_dir: Path) -> None:
        self.out_root = out_root
        self.tutorials_dir = tutorials_dir

    def out_dir(self, script: str | Path) -> Path:
        return self.out_root / Path(script).stem

    def __call__(self, gallery_conf: dict, script_vars: dict) -> list[str]:
        src = Path(script_vars["src_file"])
        script_vars["example_globals"]["__file__"] = str(self.tutorials_dir / src.name)
        out = self.out_dir(src)
        if out.exists():
            shutil.rmtree(out)
        return ["--quick", "--out", str(out)]

    def __repr__(self) -> str:  # sphinx-gallery hashes the config through repr
        return f"ResetArgv({str(self.out_root)!r}, {str(self.tutorials_dir)!r})"


class PNGScraper:
    """Image scraper: the PNG files a tutorial wrote into its ``--out`` since the last block."""

    def __init__(self, reset_argv: ResetArgv) -> None:
        self.reset_argv = reset_argv
        self.seen: dict[str, set[Path]] = {}

    def __call__(self, block: object, block_vars: dict, gallery_conf: dict) -> str:
        from sphinx_gallery.scrapers import figure_rst

        src = block_vars["src_file"]
        out = self.reset_argv.out_dir(src)
        seen = self.seen.setdefault(src, set())
        new = sorted((p for p in out.rglob("*.png") if p not in seen),
                     key=lambda p: (p.stat().st_mtime, p.name)) if out.exists() else []
        image_names = []
        for png, target in zip(new, block_vars["image_path_iterator"]):
            shutil.copyfile(png, target)
            image_names.append(target)
            seen.add(png)
        return figure_rst(image_names, gallery_conf["src_dir"])

    def __repr__(self) -> str:
        return "PNGScraper()"
