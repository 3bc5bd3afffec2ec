r"""The exact (monomial-coefficient) form of the Lie-derivative operator: no sampling.

:math:`L_{\xi_k} F` of a polynomial model under polynomial vector fields is a polynomial, so its coefficients in the
monomials it can reach are linear in the parameters: :func:`exact_matrix` builds that sparse map. Discrete
generators that are signed permutations map monomials to monomials (:func:`discrete_exact`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._action import Action
from ._dictionaries import PolynomialLibrary, unique_exponents

__all__ = ["discrete_exact", "exact_matrix"]


# ------------------------------------------------------------------------------------------ index helpers
def _join(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(i, j)`` with ``a[i] == b[j]`` (an equi-join of two integer key arrays), vectorised."""
    order = np.argsort(b, kind="stable")
    b_sorted = b[order]
    left = np.searchsorted(b_sorted, a, side="left")
    counts = np.searchsorted(b_sorted, a, side="right") - left
    ia = np.repeat(np.arange(len(a)), counts)
    offsets = np.repeat(left - (np.cumsum(counts) - counts), counts)
    return ia, order[offsets + np.arange(len(ia))]


def _is_monomial_matrix(g: np.ndarray) -> bool:
    """One nonzero per row and column (signed/scaled permutation): monomials map to monomials."""
    nonzero = g != 0
    return bool(np.all(nonzero.sum(axis=0) == 1) and np.all(nonzero.sum(axis=1) == 1))


# ------------------------------------------------------------------------------------------- exact form
def exact_matrix(library: PolynomialLibrary, action: Action) -> tuple[sp.csr_matrix, np.ndarray]:
    """Monomial-coefficient form of ``M_enf``: (csr of shape (U * n_out * q, P), row monomials (U, m)).

    Row ``(u * n_out + o') * q + k`` holds the coefficient of monomial ``u`` in output ``o'`` of
    :math:`L_{\\xi_k} F`.
    """
    E = library.exponents
    L, m = E.shape
    q, n_out = action.n_generators, action.n_outputs
    C, Phi = action.fields, action.field_library.exponents
    eye = np.eye(m, dtype=np.int64)
    exps: list[np.ndarray] = [E]  # the library itself: every row monomial set contains it
    mono, o_row, ks, cols, vals = [], [], [], [], []
    offset = L

    # transport term: W Dtheta(x) v_k(x) = sum alpha_li x^{alpha_l - e_i} C_k[i, f] x^{phi_f}
    k_f, i_f, f_f = np.nonzero(C)
    c = C[k_f, i_f, f_f]
    l_d, i_d = np.nonzero(E)
    a = E[l_d, i_d].astype(np.float64)
    ia, ib = _join(i_f, i_d)
    exps.append(E[l_d[ib]] - eye[i_d[ib]] + Phi[f_f[ia]])
    n1 = len(ia)
    mono.append(np.tile(offset + np.arange(n1), n_out))
    o_row.append(np.repeat(np.arange(n_out), n1))
    ks.append(np.tile(k_f[ia], n_out))
    cols.append(np.repeat(np.arange(n_out), n1) * L + np.tile(l_d[ib], n_out))
    vals.append(np.tile(c[ia] * a[ib], n_out))
    offset += n1

    if isinstance(action.output, np.ndarray):  # - B_k W theta(x), B_k constant
        k_b, o1_b, o_b = np.nonzero(action.output)
        b = action.output[k_b, o1_b, o_b]
        mono.append(np.tile(np.arange(L), len(b)))
        o_row.append(np.repeat(o1_b, L))
        ks.append(np.repeat(k_b, L))
        cols.append(np.repeat(o_b, L) * L + np.tile(np.arange(L), len(b)))
        vals.append(-np.repeat(b, L))
    elif action.output == "vector_field":  # - Dv_k(x) W theta(x), (Dv_k)_{o'o} = sum_f C_k[o', f] d_o x^{phi_f}
        f_p, o_p = np.nonzero(Phi)
        alpha = Phi[f_p, o_p].astype(np.float64)
        lowered, lowered_index = unique_exponents(Phi[f_p] - eye[o_p])
        ja, jb = _join(f_f, f_p)
        exps.append((lowered[:, None, :] + E[None, :, :]).reshape(-1, m))
        n2 = len(ja)
        mono.append(offset + np.repeat(lowered_index[jb] * L, L) + np.tile(np.arange(L), n2))
        o_row.append(np.repeat(i_f[ja], L))
        ks.append(np.repeat(k_f[ja], L))
        cols.append(np.repeat(o_p[jb], L) * L + np.tile(np.arange(L), n2))
        vals.append(-np.repeat(c[ja] * alpha[jb], L))

    rows_monomials, unique_index = unique_exponents(np.concatenate(exps))
    U = len(rows_monomials)
    u = unique_index[np.concatenate(mono)]
    rows = (u * n_out + np.concatenate(o_row)) * q + np.concatenate(ks)
    matrix = sp.coo_matrix(
        (np.concatenate(vals), (rows, np.concatenate(cols))), shape=(U * n_out * q, n_out * L)
    ).tocsr()
    matrix.eliminate_zeros()
    return matrix, rows_monomials


def discrete_exact(library: PolynomialLibrary, action: Action) -> tuple[sp.csr_matrix, list[int]]:
    r"""Monomial-coefficient rows of :math:`K_g F - F` for the discrete generators whose :math:`g_{in}` is a
    monomial matrix.

    A signed (scaled) permutation maps monomials to monomials, so those rows are exact coefficients; the other
    generators are returned by index for the caller to sample.

    Returns
    -------
    (csr_matrix of shape (R_d, P), indices of the generators left out)
    """
    E = library.exponents
    L, m = E.shape
    n_out = action.n_outputs
    exact_ids = [i for i, (g, _) in enumerate(action.discrete) if _is_monomial_matrix(g)]
    other_ids = [i for i in range(len(action.discrete)) if i not in exact_ids]
    if exact_ids:
        exps, mono, o_row, gens, cols, vals = [E], [], [], [], [], []
        for position, index in enumerate(exact_ids):
            g_in, g_out = action.discrete[index]
            perm = np.argmax(g_in != 0, axis=1)  # (g x)_i = s_i x_{perm(i)}
            scale = g_in[np.arange(m), perm]
            moved = np.zeros_like(E)
            moved[:, perm] = E
            coef = np.prod(scale[None, :] ** E, axis=1)
            ginv = np.linalg.inv(g_out)
            o1, o = np.nonzero(ginv)
            start = sum(len(x) for x in exps)
            exps.append(moved)
            mono += [start + np.tile(np.arange(L), len(o1)), np.tile(np.arange(L), n_out)]
            o_row += [np.repeat(o1, L), np.repeat(np.arange(n_out), L)]
            cols += [np.repeat(o, L) * L + np.tile(np.arange(L), len(o1)), np.arange(n_out * L)]
            vals += [np.repeat(ginv[o1, o], L) * np.tile(coef, len(o1)), -np.ones(n_out * L)]
            gens += [np.full(len(o1) * L, position), np.full(n_out * L, position)]
        monomials, index_of = unique_exponents(np.concatenate(exps))
        U, G = len(monomials), len(exact_ids)
        rows = (index_of[np.concatenate(mono)] * G + np.concatenate(gens)) * n_out + np.concatenate(o_row)
        block = sp.coo_matrix(
            (np.concatenate(vals), (rows, np.concatenate(cols))), shape=(U * G * n_out, n_out * L)
        ).tocsr()
        block.eliminate_zeros()
        return block, other_ids
    return sp.csr_matrix((0, n_out * L)), other_ids
