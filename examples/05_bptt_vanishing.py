"""Section 3 of the seed tutorial, measured: vanishing and exploding gradients through time.

The tutorial's argument: BPTT multiplies the gradient by ``W_hh`` once per
step, so with a factor below 1 it vanishes (0.9^100 is about 0) and above 1
it explodes. ``rnnkit.analysis.gradient_flow_study`` measures the norm of
``dL/dh_t`` at distance ``k`` from a loss on the last step, averaged over
random sequences, and this script prints it for a vanilla RNN whose ``W_hh`` is
an orthogonal matrix times ρ, for the three cells at their default
initialisation, and for the LSTM with forget-gate bias 0 and 1.
``rnnkit analyze gradients`` runs the full-size study and draws the plot.

Run: ``python examples/05_bptt_vanishing.py``
"""

from rnnkit.analysis import gradient_flow_study


def main() -> None:
    study = gradient_flow_study(hidden_size=32, steps=60, batch_size=16, warmup=20)
    print(study.describe())
    print(study.table())
    k = study.steps - 1
    measured = study.curve("rnn rho=0.9").norms[k]
    print(
        f"rho=0.9 after k={k} steps: measured {measured:.2e}, 0.9^{k} = {0.9**k:.2e} "
        f"(tanh' <= 1 can only shrink it further)"
    )
    print(f"for comparison 0.9^100 = {0.9**100:.2e}")


if __name__ == "__main__":
    main()
