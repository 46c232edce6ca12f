"""The block extractor and the convention it enforces, on pages written for the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from .blocks import blocks

PAGE = """# Page

```python
print("runs")
```

```python fragment
await something()
```

```js
console.log(1)
```

````bash
echo "```"
````

```
plain
```

~~~toml
a = 1
~~~
"""


def test_blocks_with_lines_and_kinds(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    found = blocks(page)
    assert [(b.line, b.kind) for b in found] == [
        (3, "python"),
        (7, "fragment"),
        (11, "unmarked"),
        (15, "shell"),
        (19, "unmarked"),
        (23, "toml"),
    ]
    assert found[0].text == 'print("runs")\n'
    assert found[3].text == 'echo "```"\n'
    assert found[2].where == f"{page}:11"


def test_unclosed_fence_names_the_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nprint(1)\n")
    with pytest.raises(ValueError, match=r"page.md:3: the code fence ``` is never closed"):
        blocks(page)
