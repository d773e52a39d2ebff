"""Put the browser files a Solara page needs into Solara's local cache, from the npm registry.

A Solara page loads its JavaScript, styles and fonts (the Vuetify app, RequireJS, Font
Awesome, the draggable grid SolaraViz lays its panels out on) through the Solara server,
which fetches each file from a public CDN the first time and keeps it in a cache folder.
Where that CDN cannot be reached, on a closed network, the page stays blank. The same files
are npm packages, so ``python -m surge_app.assets`` (run by ``make``) fetches them with
``npm pack`` and unpacks them where the server looks first. Without npm it does nothing and
Solara keeps using its CDN.

The versions are read from the installed Solara itself, so they follow a Solara upgrade.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import solara
from solara.server.settings import assets

# The npm packages the app's page loads; Solara's sources name the version of each.
NAMES = (
    "@widgetti/solara-vuetify3-app",
    "@widgetti/solara-vuetify-app",
    "@widgetti/vue-grid-layout",
    "requirejs",
    "font-awesome",
)
_SPEC = re.compile(r"((?:@[a-z0-9-]+/)?[a-z0-9.-]+)@(\d+\.\d+\.\d+[a-z0-9.-]*)/")


def wanted_packages(source: Path = Path(solara.__file__).parent) -> list[str]:
    """'name@version' of each package in NAMES that Solara's sources load, sorted."""
    found = set()
    for path in source.rglob("*"):
        if path.suffix in (".py", ".j2", ".vue", ".js") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            found.update(f"{n}@{v}" for n, v in _SPEC.findall(text) if n in NAMES)
    return sorted(found)


def missing(cache: Path, packages: list[str]) -> list[str]:
    return [spec for spec in packages if not (cache / spec / "package.json").is_file()]


def fetch(packages: list[str], cache: Path) -> None:
    """Download each package with `npm pack` and unpack it into ``cache``/name@version."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", "--json", "--pack-destination", tmp, *packages],
            check=True,
            capture_output=True,
            text=True,
        )
        for spec, packed in zip(packages, json.loads(out.stdout), strict=True):
            unpacked = Path(tmp) / "unpacked"
            with tarfile.open(Path(tmp) / packed["filename"]) as archive:
                archive.extractall(unpacked, filter="data")
            target = cache / spec
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(unpacked / "package", target)
            shutil.rmtree(unpacked)


def main() -> int:
    cache = Path(assets.proxy_cache_dir)
    needed = missing(cache, wanted_packages())
    if not needed:
        return 0
    if shutil.which("npm") is None:
        print("surge_app.assets: no npm; Solara will load its browser files from its CDN")
        return 0
    try:
        fetch(needed, cache)
    except (subprocess.CalledProcessError, OSError, ValueError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"surge_app.assets: could not fetch {', '.join(needed)}: {detail}", file=sys.stderr)
        return 1
    print(f"surge_app.assets: {', '.join(needed)} -> {cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
