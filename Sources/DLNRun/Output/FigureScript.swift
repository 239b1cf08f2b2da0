import Foundation

/// The matplotlib script written next to a figure (`<figure>.py`): it redraws the figure from the folder's files
/// with numpy and matplotlib only, for users to edit, and writes `<figure>.png` and `<figure>.pdf` at paper size.
public enum FigureScript {
    /// The script of a figure of `observable`: against t (`parameter` nil, `time` the time axis) or at the last
    /// checkpoint against the grid parameter `parameter`.
    public static func text(figure: String, observable: String, parameter: String?, time: SVGPlot.Scale) -> String {
        let header = """
            #!/usr/bin/env python3
            # Redraws \(figure).svg from the files of this dlnsim output folder with numpy and matplotlib, and writes
            # \(figure).png and \(figure).pdf (paper size) next to it. Written by dlnsim; edit freely:
            #   python3 \(figure).py
            import csv
            import os
            import warnings

            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            import numpy as np

            HERE = os.path.dirname(os.path.abspath(__file__))
            NAME = "\(figure)"
            OBSERVABLE = "\(observable)"
            PARAMETER = \(parameter.map { "\"\($0)\"" } ?? "None")  # None: against t
            TIME = "\(time == .linear ? "linear" : "log")"  # the time axis: "log" or "linear"

            """
        return header + body
    }

    static let body = #"""
        warnings.filterwarnings("ignore", "All-NaN")  # grid points without a prediction
        SYMBOLS = {"alpha": "α", "weight_decay": "λ", "learning_rate": "η", "delta": "δ", "noise": "σ",
                   "density": "ρ", "depth": "L", "d": "d", "n": "n", "batch_size": "b", "label_noise": "σ_ℓ",
                   "gradient_noise": "T", "momentum": "β"}
        INTEGER = {"depth", "d", "n", "batch_size"}


        def load(name):
            path = os.path.join(HERE, name)
            return np.load(path) if os.path.exists(path) else None


        a = np.load(os.path.join(HERE, OBSERVABLE.replace("/", "_") + ".npy")).astype(float)  # [grid point, seed, checkpoint]
        times = np.load(os.path.join(HERE, "times.npy"))  # [grid point, checkpoint]
        with open(os.path.join(HERE, "grid.csv")) as f:
            table = list(csv.reader(f))
        columns = table[0][1:]
        rows = [r[1:] for r in table[1:]]
        G, S, C = a.shape
        status = load("status.npy")
        if status is not None:  # replicas frozen before the end are left out
            a[status.reshape(G, S) > 0] = np.nan


        def numeric(c):
            try:
                [float(r[c]) for r in rows]
                return True
            except ValueError:
                return False


        varying = [c for c in range(len(columns)) if columns[c] not in ("lambda_u", "n")
                   and len({r[c] for r in rows}) > 1]
        x_column = columns.index(PARAMETER) if PARAMETER else None
        styling = [c for c in varying if c != x_column]
        main = max(styling, key=lambda c: len({r[c] for r in rows}), default=None)
        others = [c for c in styling if c != main]
        dashes = ["-", "--", ":", "-."]


        def short(text):
            """A grid value as written when short, else 4 significant digits (logspace values are long)."""
            try:
                return text if len(text) <= 8 else f"{float(text):.4g}"
            except ValueError:
                return text


        def label(g):
            parts = [f"{SYMBOLS.get(columns[c], columns[c])} = {short(rows[g][c])}" for c in styling
                     if rows[g][c] != ""]  # (the batch size of a gd point is empty)
            return ", ".join(parts) or "simulation"


        def style(g):
            """The colour (viridis for an ordered parameter, tab10 otherwise) and line style of grid point g."""
            if main is None:
                return "C0", "-"
            values = sorted({r[main] for r in rows}, key=float if numeric(main) else None)
            if not numeric(main):
                values = list(dict.fromkeys(r[main] for r in rows))
            i = values.index(rows[g][main])
            keys = list(dict.fromkeys(tuple(r[c] for c in others) for r in rows))
            k = keys.index(tuple(rows[g][c] for c in others))
            if numeric(main):
                colour = plt.cm.viridis(0.85 * i / max(1, len(values) - 1))
            else:
                colour, k = plt.cm.tab10(i % 10), k + i // 10
            return colour, dashes[k % len(dashes)]


        def median(v):
            return np.nanmedian(v, axis=0) if np.isfinite(v).any() else np.full(v.shape[1:], np.nan)


        fig, ax = plt.subplots(figsize=(6.5, 4.2))  # paper size, inches
        marked = []
        if PARAMETER is None:
            curves = range(min(G, 24))
            for g in curves:
                colour, dash = style(g)
                ax.plot(times[g], median(a[g]), color=colour, ls=dash, lw=1.6, label=label(g))
                ax.fill_between(times[g], np.nanquantile(a[g], 0.1, axis=0), np.nanquantile(a[g], 0.9, axis=0),
                                color=colour, alpha=0.18, lw=0)
            for file, text, ls in [("analysis_predicted_test_error.npy", "theory: limit of the flow", (0, (6, 4))),
                                   ("analysis_asymptotic_test_error.npy", "theory: d → ∞", (0, (14, 5)))]:
                p = load(file)
                if OBSERVABLE != "test_error" or p is None:
                    continue
                for g in curves:
                    ax.hlines(np.nanmedian(p[g]), times[g][times[g] > 0].min(), times[g].max(), color=style(g)[0],
                              ls=ls, lw=1.2)
                ax.plot([], [], color="0.3", ls=ls, label=text)
            if OBSERVABLE == "sharpness" and "learning_rate" in columns:  # gradient descent's stability edge
                for g in curves:
                    eta = float(rows[g][columns.index("learning_rate")])
                    ax.hlines(2 / eta, times[g][times[g] > 0].min(), times[g].max(), color=style(g)[0], ls=":", lw=1.2)
                ax.plot([], [], color="0.3", ls=":", label="2/η: gradient descent's stability edge")
            for file, kind, ls in [("analysis_transition_time.npy", "t_c: lazy → rich", ":"),
                                   ("analysis_first_jump_time.npy", "first / last plateau exit", "-."),
                                   ("analysis_last_jump_time.npy", None, "-.")]:
                p = load(file)
                if p is None:
                    continue
                for g in curves:
                    t = np.nanmedian(np.where(status.reshape(G, S)[g] > 0, np.nan, p[g]) if status is not None else p[g])
                    if np.isfinite(t) and t > 0:
                        ax.axvline(t, color=style(g)[0], ls=ls, lw=1)
                        marked.append(kind)
                if kind and kind in marked:
                    ax.plot([], [], color="0.3", ls=ls, label=kind + " (analyze)")
            ax.set_xscale(TIME)
            ax.set_xlabel("t (gradient-flow time)")
            ax.set_title(f"{OBSERVABLE} vs t")
            caption = f"Lines: median over {S} seeds; bands: 10–90% quantiles over the seeds."
        else:
            xs = np.array([float(r[x_column]) for r in rows])
            groups = {}
            for g in range(G):
                groups.setdefault(tuple(rows[g][c] for c in styling), []).append(g)
            for gs in groups.values():
                gs = sorted(gs, key=lambda g: xs[g])
                last = a[gs][:, :, -1]
                m = np.nanmedian(last, axis=1)
                lo, hi = np.nanquantile(last, 0.1, axis=1), np.nanquantile(last, 0.9, axis=1)
                colour, dash = style(gs[0])
                ax.errorbar(xs[gs], m, yerr=[m - lo, hi - m], color=colour, ls=dash, marker="o", ms=4, capsize=2,
                            label=label(gs[0]))
            if xs.min() > 0 and xs.max() / xs.min() >= 20:
                ax.set_xscale("log")
            if PARAMETER in INTEGER:
                ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_xlabel(SYMBOLS.get(PARAMETER, PARAMETER))
            ax.set_title(f"{OBSERVABLE} at t = {times[0][-1]:g} vs {SYMBOLS.get(PARAMETER, PARAMETER)}")
            caption = f"Points: median over {S} seeds at the last checkpoint; bars: 10–90% quantiles over the seeds."
        finite = a[np.isfinite(a)]
        if OBSERVABLE.startswith(("precision@", "recall@")):
            ax.set_ylim(0, 1)
        elif finite.size and finite.min() > 0:
            ax.set_yscale("log")
        ax.set_ylabel(OBSERVABLE.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        if main is not None:
            caption += f" Colour: {SYMBOLS.get(columns[main], columns[main])}."
        if marked:
            caption += " Vertical lines: times from dlnsim analyze."
        fig.text(0.01, 0.01, caption, fontsize=7, wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        for ext in ("png", "pdf"):
            fig.savefig(os.path.join(HERE, f"{NAME}.{ext}"), dpi=200, bbox_inches="tight")
        print(f"wrote {NAME}.png and {NAME}.pdf")
        """#
}
