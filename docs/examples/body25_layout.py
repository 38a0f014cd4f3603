"""A skeleton layout of your own: OpenPose BODY_25 (25 joints, 2-D x, y + score).

stf ships the layouts of the data sets it reads; any other skeleton is one ``register`` call. Name this
file (or an importable module that makes the same call) in ``STF_LAYOUT_MODULES`` and every command,
the app included, knows the layout::

    export STF_LAYOUT_MODULES=docs/examples/body25_layout.py
    python -m stf data convert --format npy --opt layout=body25 --opt channels=xy+score \
        ../shared/data/paddlevideo-skeleton-samples/fsd10_example_skeleton.npy /tmp/fsd10

Several modules: separate them with commas. A store written with this layout needs the variable set
whenever it is opened again (the store records the layout's name, not its definition).
"""
from stf.layouts import Layout, register

BODY25 = register(Layout(
    name="body25",
    description="OpenPose BODY_25 (x, y in pixels or normalised, detector score)",
    joints=(
        "nose", "neck", "shoulder_right", "elbow_right", "wrist_right", "shoulder_left", "elbow_left",
        "wrist_left", "hip_mid", "hip_right", "knee_right", "ankle_right", "hip_left", "knee_left",
        "ankle_left", "eye_right", "eye_left", "ear_right", "ear_left", "big_toe_left", "small_toe_left",
        "heel_left", "big_toe_right", "small_toe_right", "heel_right",
    ),
    bones=(  # (child, parent), rooted at the neck
        (0, 1), (2, 1), (3, 2), (4, 3), (5, 1), (6, 5), (7, 6), (8, 1), (9, 8), (10, 9), (11, 10),
        (12, 8), (13, 12), (14, 13), (15, 0), (16, 0), (17, 15), (18, 16), (19, 14), (20, 19), (21, 14),
        (22, 11), (23, 22), (24, 11),
    ),
    root=1,
    origin=(1,),  # the neck, as for openpose18
    symmetric=((2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18), (19, 22), (20, 23),
               (21, 24)),
))
