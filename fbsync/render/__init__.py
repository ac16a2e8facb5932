"""Rendering only, for people: text tables (:mod:`.text`), the HTML report (:mod:`.html`, :mod:`.charts`)
and progress bars (:mod:`.progress`).  Renderers read typed results and records; they decide nothing."""
