"""Adjacency: the graph each module uses for this sample, split into its parts, beside the skeleton."""
from __future__ import annotations

import streamlit as st

from pages import _shared as ui

st.title("Adjacency")
st.caption("Module k aggregates joint i into joint j with G_k = Ā + B_k + α_k·C_k(x): the fixed skeleton graph Ā, "
           "a learned part B_k shared by all samples, and a part C_k(x) computed from this sample. R_k is the "
           "co-focus target (joints the focus highlights together), shown beside C_k(x). Matrices are normalised "
           "for display: Ā, C, R column-normalised in [0, 1]; B scaled to [-1, 1]; the sum as signed column shares.")

sel, e = ui.explained_sample()
if not e.adjacency:
    st.warning("This explanation has no adjacency parts.")
    st.stop()

from stf import viz  # noqa: E402

lay = sel.explainer.layout
mods = e.adjacency
c1, c2 = st.columns(2)
c3, c4 = st.columns(2)
module = c1.radio("Module", list(range(1, len(mods) + 1)), index=len(mods) - 1, horizontal=True, key="adj_module",
                  persist_state="session")
parts = list(mods[0].partitions)
partition = c2.radio("Partition", parts + ["sum"], horizontal=True, key="adj_partition", persist_state="session")
threshold = c3.slider("Edges above", 0.0, 1.0, 0.1, 0.05, key="adj_threshold",
                      help="The drawing shows joint pairs whose |weight| is above this.")
drawings = (["mean pose"] if sel.explainer.mean_pose is not None else []) + ["sample pose", "tree"]
drawing = c4.radio("Drawing", drawings, key="adj_drawing", horizontal=True,
                   help="Where the joints sit in the edge drawing: the model's training mean pose (after its "
                        "preprocessing), this sample's first frame, or a tree from the root joint.")
persons = [m for m in range(len(mods[0].person_mask)) if mods[0].person_mask[m]] or [0]
person = persons[0]
if len(persons) > 1:
    person = st.radio("Person", persons, format_func=lambda m: f"person {m + 1}", horizontal=True, key="adj_person")

adj = mods[module - 1]
pidx = None if partition == "sum" else parts.index(partition)
pose = None
if drawing == "mean pose":
    pose = sel.explainer.mean_pose.detach().cpu().numpy().T  # (V, C)
elif drawing == "sample pose":
    valid = e.focus.frames_of()[person]  # the chosen person's first frame (a second person may enter later)
    t0 = int(valid.argmax()) if valid.any() else 0
    pose = e.sample.data[person, t0]
st.caption(f"Sample `{e.sample.sample_id}` · prediction {e.top5.names[0]} · module {module}, partition "
           f"{partition}" + ("" if adj.alpha is None else f" · α_{module} = {adj.alpha:.3f}"))


def panel(part: str, title: str, key: str):
    m = adj.matrix(part, None if part == "R" else pidx, person=person)
    if m is None:
        st.info(f"{title}: this model has none.", icon=":material/info:")
        return None
    zmin, zmax, zmid = adj.value_range(part)
    fig = viz.adjacency_panel(m, lay, pose, threshold=threshold, title=title, zmin=zmin, zmax=zmax, zmid=zmid,
                              height=480)
    ui.plot(fig, key=key, name=f"{e.sample.sample_id}-adjacency-{part}-m{module}-{partition}")
    return fig


with ui.guard("Cannot draw the adjacency"):
    panel("A", "Ā: fixed skeleton graph", "fig_adj_A")
    panel("B", "B_k: learned (shared by all samples)", "fig_adj_B")
    panel("G", "Sum Ā + B_k + α·C_k(x): what the module uses", "fig_adj_G")
    st.subheader("Instance-dependent part C_k(x) beside the co-focus target R_k")
    left, right = st.columns(2)
    cm = adj.matrix("C", pidx, person=person)
    rm = adj.matrix("R", None, person=person)
    with left:
        if cm is None:
            st.info("This model has no instance-dependent part.", icon=":material/info:")
        else:
            z = adj.value_range("C")
            ui.plot(viz.adjacency_heatmap(cm, lay, title=f"C_{module}(x), {partition}", zmin=z[0], zmax=z[1],
                                          zmid=z[2], height=520), key="fig_adj_C",
                    name=f"{e.sample.sample_id}-adjacency-C-m{module}")
    with right:
        if rm is None:
            st.info("No co-focus target (no focus).", icon=":material/info:")
        else:
            z = adj.value_range("R")
            ui.plot(viz.adjacency_heatmap(rm, lay, title=f"R_{module} (co-focus of “{e.target_name}”)",
                                          zmin=z[0], zmax=z[1], zmid=z[2], height=520), key="fig_adj_R",
                    name=f"{e.sample.sample_id}-adjacency-R-m{module}")
    with st.expander("Graph drawings of C_k(x) and R_k"):
        panel("C", "C_k(x)", "fig_adj_C_graph")
        panel("R", "R_k", "fig_adj_R_graph")
