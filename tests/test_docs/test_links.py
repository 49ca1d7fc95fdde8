# Copyright (c) mmgcp contributors. All rights reserved.
"""Every link, anchor and repository path named in README.md and docs/*.md exists.

What is checked, in README.md and every ``docs/*.md``:

- **Relative links** ``[text](target)``, ``![alt](target)`` and ``[ref]: target`` outside code:
  the target, resolved against the page's folder, is a file or folder of the repository. Links
  with a scheme (``https:``, ``mailto:``) are not checked.
- **Anchors** ``#section`` (alone: this page; after a ``.md`` target: that page): a heading of
  the page has that anchor, slugified the way GitHub and MyST (``myst_heading_slug_func =
  'github'``) do it: lower case, spaces to ``-``, every character that is not a word character,
  ``-`` or a space dropped; a repeated slug gets ``-1``, ``-2``, ...
- **Repository paths** in code (inline code and fenced blocks) and in prose outside links: a
  token that starts with a top-level folder of the repository and ``/`` (``mmgcp/``,
  ``configs/``, ``tools/``, ``docs/``, ``tests/``, ``requirements/``, ``.ci/``, and any other
  tracked top-level folder), not preceded by a path or URL character (so ``~/.cache/mmgcp/...``,
  ``$ROOT/tools/...``, ``mmgcp::configs/...`` and URLs are not taken). Generated folders outside
  git (``data/``, ``work_dirs/``, ``checkpoints/``) are not repository paths.
  Templates are read as a shell or a reader would:
  - ``{a,b}`` is brace-expanded and every expansion must exist;
  - ``{variant}`` (a name in braces), ``<arch>``, ``$v`` / ``${v}`` are placeholders and
    ``*`` ``?`` are globs: each matches within one path component, and the pattern must match
    at least one repository path;
  - a token with ``...`` is elided (``configs/...``) and not checked;
  - ``docs/page.md#anchor`` checks the anchor too.

"Exists" means tracked by git or untracked and not ignored (``git ls-files --cached --others
--exclude-standard``), so a generated path is never taken for a repository path, except the
few in :data:`GENERATED`, which the set-up makes and the docs describe.
"""
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Top-level folders whose paths the docs name (tracked top-level folders are added).
REPO_DIRS = ('mmgcp', 'configs', 'tools', 'docs', 'tests', 'requirements', '.ci')

#: Paths the set-up generates and the docs name on purpose (git ignores them).
GENERATED = {
    # setup.py links configs/, tools/ and model-index.yml here for the `mmgcp::` config package.
    'mmgcp/.mim', 'mmgcp/.mim/configs', 'mmgcp/.mim/tools', 'mmgcp/.mim/model-index.yml',
}

FENCE_RE = re.compile(r'^ {0,3}(```+|~~~+)')
# A code span: a run of backticks, its content (not across a blank line), the same run.
CODE_SPAN_RE = re.compile(r'(`+)((?:(?!\n[ \t]*\n).)+?)\1', re.S)
INLINE_LINK_RE = re.compile(
    r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|\'[^\']*\'))?\s*\)')
REF_DEF_RE = re.compile(r'^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)', re.M)
HEADING_RE = re.compile(r'^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$')
SCHEME_RE = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')
HTML_COMMENT_RE = re.compile(r'<!--.*?-->', re.S)


def tracked_paths() -> Set[str]:
    """Every file of the repository and every folder above one, relative to the root."""
    try:
        out = subprocess.run(
            ['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=REPO,
            capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f'needs git and a git checkout to list the repository files: {exc}')
    paths = set(GENERATED)
    for line in out.splitlines():
        if not (REPO / line).exists():  # deleted in the work tree, not yet committed
            continue
        parts = line.split('/')
        for i in range(1, len(parts) + 1):
            paths.add('/'.join(parts[:i]))
    return paths


def split_code(text: str) -> Tuple[str, List[Tuple[int, str]]]:
    """Separate code from prose.

    Returns:
        tuple: The text with every fenced block, code span and HTML comment blanked (same
        offsets, newlines kept), and the code as ``(offset, code)`` pairs.
    """
    chars = list(text)
    code: List[Tuple[int, str]] = []

    def blank(start: int, end: int) -> None:
        for i in range(start, end):
            if chars[i] != '\n':
                chars[i] = ' '

    offset, fence, fence_start = 0, None, 0
    for line in text.splitlines(keepends=True):
        match = FENCE_RE.match(line)
        if fence is None and match:
            fence, fence_start = match.group(1), offset
        elif fence is not None and match and match.group(1).startswith(fence[0]) \
                and len(match.group(1)) >= len(fence) and not line.strip()[len(match.group(1)):]:
            code.append((fence_start, text[fence_start:offset + len(line)]))
            blank(fence_start, offset + len(line))
            fence = None
        offset += len(line)
    if fence is not None:  # an unclosed fence runs to the end, as in CommonMark
        code.append((fence_start, text[fence_start:]))
        blank(fence_start, len(text))
    prose = ''.join(chars)
    for match in HTML_COMMENT_RE.finditer(prose):
        blank(match.start(), match.end())
    prose = ''.join(chars)
    for match in CODE_SPAN_RE.finditer(prose):
        code.append((match.start(2), match.group(2)))
        blank(match.start(), match.end())
    return ''.join(chars), code


def github_slug(title: str) -> str:
    """The anchor GitHub and MyST's 'github' preset give a heading's rendered text."""
    return re.sub(r'[^\w\u4e00-\u9fff\- ]', '', title.lower().replace(' ', '-'))


def heading_text(source: str) -> str:
    """The rendered text of a heading's Markdown source (what the slug is made from)."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', source)  # links and images: their text
    text = re.sub(r'<[^>]+>', '', text)  # inline HTML tags
    text = re.sub(r'`+', '', text)  # code spans keep their content
    text = re.sub(r'(\*+|(?<!\w)_+|_+(?!\w))', '', text)  # emphasis markers
    return text.strip()


def heading_slugs(text: str) -> Set[str]:
    """The anchors of every heading of a Markdown page (code blocks are not headings)."""
    prose, _ = split_code(text)
    seen: Dict[str, int] = {}
    slugs = set()
    for line, blanked in zip(text.splitlines(), prose.splitlines()):
        if not HEADING_RE.match(blanked):  # a '#' line inside a fenced block is blanked
            continue
        slug = github_slug(heading_text(HEADING_RE.match(line).group(2)))
        if slug in seen:
            seen[slug] += 1
            slug = f'{slug}-{seen[slug]}'
        else:
            seen[slug] = 0
        slugs.add(slug)
    return slugs


def expand_braces(pattern: str) -> List[str]:
    """Shell brace expansion of ``{a,b}`` groups (a group without a comma stays as it is)."""
    match = re.search(r'\{([^{}]*,[^{}]*)\}', pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[:match.start()], pattern[match.end():]
    return [expanded for option in match.group(1).split(',')
            for expanded in expand_braces(head + option + tail)]


def to_glob(path: str) -> str:
    """Placeholders (``{name}``, ``<name>``, ``$name``, ``${name}``) become ``*``."""
    path = re.sub(r'\{[^{},]*\}|<[^<>/]*>|\$\{\w+\}|\$\w+', '*', path)
    return path


def glob_regex(pattern: str) -> 're.Pattern':
    """A glob as a regex over repository paths: ``*`` and ``?`` stay within one component."""
    parts = []
    for token in re.split(r'(\*\*|\*|\?)', pattern):
        parts.append({'**': '.*', '*': '[^/]*', '?': '[^/]'}.get(token, re.escape(token)))
    return re.compile(''.join(parts))


def path_exists(pattern: str, paths: Set[str]) -> bool:
    """Whether a repository path (or a glob of one) names at least one existing path."""
    pattern = pattern.rstrip('/')
    if not re.search(r'[*?]', pattern):
        return pattern in paths
    regex = glob_regex(pattern)
    return any(regex.fullmatch(path) for path in paths)


def repo_path_re(paths: Set[str], repo: Path) -> 're.Pattern':
    """Tokens in code that start with a top-level folder of the repository."""
    top = set(REPO_DIRS) | {p for p in paths if '/' not in p and (repo / p).is_dir()}
    names = '|'.join(sorted((re.escape(t) for t in top), key=len, reverse=True))
    return re.compile(r'(?<![\w./:~$-])(?:' + names + r')/(?:[\w.\-/*?$<>#]|\{[^{}\s]*\})*')


def line_of(text: str, offset: int) -> int:
    return text.count('\n', 0, offset) + 1


def check_anchor(page: Path, anchor: str, repo: Path,
                 slug_cache: Dict[Path, Set[str]]) -> Optional[str]:
    """None when ``page`` has a heading with ``anchor``, else what is wrong."""
    if page not in slug_cache:
        slug_cache[page] = heading_slugs(page.read_text(encoding='utf-8'))
    if anchor not in slug_cache[page]:
        return f'no heading with anchor #{anchor} in {page.relative_to(repo).as_posix()}'
    return None


def check_page(page: Path, repo: Path, paths: Set[str],
               slug_cache: Dict[Path, Set[str]]) -> List[str]:
    """Every broken link, anchor and repository path of one Markdown page, as ``file:line: ...``.

    Args:
        page (Path): The Markdown file.
        repo (Path): The repository root.
        paths (set[str]): Every repository path (:func:`tracked_paths`).
        slug_cache (dict): Heading anchors of the pages read so far, filled as pages are read.

    Returns:
        list[str]: One line per problem, in the order of the page.
    """
    text = page.read_text(encoding='utf-8')
    prose, code = split_code(text)
    name = page.relative_to(repo).as_posix()
    problems = []

    targets = [(m.start(1), m.group(1)) for m in INLINE_LINK_RE.finditer(prose)]
    targets += [(m.start(1), m.group(1)) for m in REF_DEF_RE.finditer(prose)]
    for offset, target in sorted(targets):
        target = target.strip('<>')
        where = f'{name}:{line_of(text, offset)}'
        if SCHEME_RE.match(target):
            continue
        path_part, _, anchor = target.partition('#')
        path_part = unquote(path_part)
        if path_part:
            resolved = (page.parent / path_part).resolve()
            try:
                rel = resolved.relative_to(repo.resolve()).as_posix()
            except ValueError:
                problems.append(f'{where}: link {target!r} points outside the repository')
                continue
            if rel not in paths:
                problems.append(f'{where}: link {target!r}: {rel} does not exist')
                continue
            linked = resolved
        else:
            linked = page
        if anchor and linked.suffix == '.md':
            problem = check_anchor(linked, unquote(anchor), repo, slug_cache)
            if problem:
                problems.append(f'{where}: link {target!r}: {problem}')

    path_re = repo_path_re(paths, repo)
    # Prose paths too ("see docs/gpu.md"); a link's text and target are checked as a link.
    prose_outside_links = INLINE_LINK_RE.sub(lambda m: ' ' * len(m.group(0)), prose)
    for code_offset, snippet in sorted(code) + [(0, prose_outside_links)]:
        for match in path_re.finditer(snippet):
            shown = mention = match.group(0).rstrip('.')  # a sentence's full stop
            where = f'{name}:{line_of(text, code_offset + match.start())}'
            if '...' in mention:
                continue
            mention, _, anchor = mention.partition('#')
            expanded = expand_braces(mention)
            missing = [p for p in expanded if not path_exists(to_glob(p), paths)]
            if missing:
                if len(expanded) > 1:
                    detail = 'missing: ' + ', '.join(missing)
                elif to_glob(mention) != mention or re.search(r'[*?]', mention):
                    detail = 'matches nothing'
                else:
                    detail = 'does not exist'
                problems.append(f'{where}: path `{shown}`: {detail}')
                continue
            if anchor and mention.endswith('.md') and not re.search(r'[*?{<$]', mention):
                problem = check_anchor(repo / mention, anchor, repo, slug_cache)
                if problem:
                    problems.append(f'{where}: path `{shown}`: {problem}')
    return problems


def markdown_pages() -> List[Path]:
    return [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))


def test_links_anchors_and_paths_exist():
    paths = tracked_paths()
    slug_cache: Dict[Path, Set[str]] = {}
    problems = [p for page in markdown_pages()
                for p in check_page(page, REPO, paths, slug_cache)]
    assert not problems, (
        f'{len(problems)} links, anchors or repository paths in the docs do not exist (fix the '
        'text, or the path if it moved):\n' + '\n'.join(problems))


# The checker itself, on pages written here: it finds what it must find and nothing else.

def test_slugs_follow_github():
    page = ('# mmgcp on a GPU\n## One command: `tools/check_gpu.sh`\n'
            '## 2. iSQRT-COV: pre-normalisation, Newton-Schulz\n## Time\n## Time\n'
            '```\n# not a heading\n```\n')
    assert heading_slugs(page) == {
        'mmgcp-on-a-gpu', 'one-command-toolscheck_gpush',
        '2-isqrt-cov-pre-normalisation-newton-schulz', 'time', 'time-1'}


def test_templates_expand_and_match():
    assert expand_braces('a/r{50,101}-{gap,gcp}.py') == [
        'a/r50-gap.py', 'a/r50-gcp.py', 'a/r101-gap.py', 'a/r101-gcp.py']
    assert expand_braces('a/{variant}.py') == ['a/{variant}.py']
    assert to_glob('c/x-{variant}-<arch>-$v-${w}.py') == 'c/x-*-*-*-*.py'
    paths = {'c', 'c/x-gap.py', 'c/sub', 'c/sub/y.py'}
    assert path_exists('c/x-*.py', paths)
    assert not path_exists('c/*.py'.replace('*', 'z*'), paths)
    assert not path_exists('c/*-gap.py'.replace('c/', 'c/sub/'), paths)
    assert path_exists('c/sub/', paths)
    assert not path_exists('c/*/x-gap.py', paths)  # '*' stays within one component


def test_checker_finds_broken_links_anchors_and_paths(tmp_path):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'train.py').write_text('')
    (tmp_path / 'docs' / 'other.md').write_text('# Other page\n## A section\n')
    page = tmp_path / 'docs' / 'page.md'
    page.write_text(
        '# Page\n'
        'Good: [o](other.md), [s](other.md#a-section), [h](#page), [w](https://x.org/none), '
        '`tools/train.py`, [tools/none.py](other.md), `tools/{train,test}.py` is half good.\n'
        'Bad: [m](missing.md), [a](other.md#nope), [h](#nope), `tools/nope.py`, '
        '`docs/other.md#nope`, `tools/*.sh`, see docs/gone.md.\n'
        'Skipped: `tools/...`, `data/toy/cls`, `~/x/tools/none`, `a/tools/none.py`, '
        '`mmgcp::tools/none.py`, `$ROOT/tools/none.py`.\n'
        '```bash\npython tools/train.py configs/none.py  # [x](nowhere.md)\n```\n'
        '<!-- [c](comment.md) tools/none.py -->\n')
    paths = {'docs', 'docs/other.md', 'docs/page.md', 'tools', 'tools/train.py'}
    problems = check_page(page, tmp_path, paths, {})
    assert problems == [
        "docs/page.md:3: link 'missing.md': docs/missing.md does not exist",
        "docs/page.md:3: link 'other.md#nope': no heading with anchor #nope in docs/other.md",
        "docs/page.md:3: link '#nope': no heading with anchor #nope in docs/page.md",
        'docs/page.md:2: path `tools/{train,test}.py`: missing: tools/test.py',
        'docs/page.md:3: path `tools/nope.py`: does not exist',
        'docs/page.md:3: path `docs/other.md#nope`: no heading with anchor #nope in '
        'docs/other.md',
        'docs/page.md:3: path `tools/*.sh`: matches nothing',
        'docs/page.md:6: path `configs/none.py`: does not exist',
        'docs/page.md:3: path `docs/gone.md`: does not exist',
    ], problems
