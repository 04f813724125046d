#!/usr/bin/python3
"""The illustrative example of CWoLa hunting (Collins, Howe, Nachman, PRD 99, 014038,
section II) as a CSV for `bsmhunt import`.

Two auxiliary features x, y uniform on the unit square centred at 0; three mass
bins [1000, 2000), [2000, 3000), [3000, 4000) GeV with N_b background events each
(mass uniform inside its bin); N_s signal events in the middle bin, uniform in the
central square of side w. The inclusive significance of the middle bin is
N_s / sqrt(N_b) = 3 for the defaults; cutting on the square keeps all the signal
and N_b w^2 = 400 background events: 15 sigma.

    /usr/bin/python3 tools/toys/cwola_toy.py --seed 1 --output toy.csv
    bsmhunt import --input toy.csv --output toy.h5 --mass-column mass --sample-column sample \
        --event-column event
    bsmhunt bumphunt --features toy.h5 --mass-bins 1000,2000,3000,4000 --sr-bins 1 --sb-bins 1 \
        --background linear --output toy_bumphunt.json
"""
import argparse
import os

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--background", type=int, default=10000, help="background events per mass bin (default 10000)")
    p.add_argument("--signal", type=int, default=300, help="signal events in the middle bin (default 300)")
    p.add_argument("--width", type=float, default=0.2, help="side of the signal square (default 0.2)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--output", required=True, help="CSV file to write")
    a = p.parse_args()
    if a.background <= 0 or a.signal < 0 or not (0 < a.width <= 1):
        p.error("need --background > 0, --signal >= 0 and 0 < --width <= 1")
    rng = np.random.default_rng(a.seed)
    rows = []
    for b in range(3):
        xy = rng.uniform(-0.5, 0.5, size=(a.background, 2))
        m = rng.uniform(1000 * (b + 1), 1000 * (b + 2), size=a.background)
        rows.append((xy, m, np.zeros(a.background, dtype=int)))
    xy = rng.uniform(-a.width / 2, a.width / 2, size=(a.signal, 2))
    m = rng.uniform(2000, 3000, size=a.signal)
    rows.append((xy, m, np.ones(a.signal, dtype=int)))
    xy = np.concatenate([r[0] for r in rows])
    m = np.concatenate([r[1] for r in rows])
    label = np.concatenate([r[2] for r in rows])
    tmp = a.output + ".partial"
    with open(tmp, "w") as f:
        f.write("event,x,y,mass,label,sample\n")
        for i in range(len(m)):
            f.write(f"{i},{xy[i, 0]:.9g},{xy[i, 1]:.9g},{m[i]:.9g},{label[i]},{'signal' if label[i] else 'background'}\n")
    os.replace(tmp, a.output)


if __name__ == "__main__":
    main()
