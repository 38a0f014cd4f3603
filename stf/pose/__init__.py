"""Skeletons from videos: MediaPipe Pose run in its own environment, read back as ``mediapipe33`` samples.

MediaPipe's last release that carries its pose model inside the wheel (0.10.14–0.10.21; later ones download
the model at run time) needs ``protobuf < 5`` and ``numpy < 2``, which the app's Streamlit and the core's
OpenCV do not allow. So extraction runs as a separate process with its own interpreter, like any external
pose estimator, and the core reads its output files:

* :mod:`stf.pose.extract` — the extractor, run *inside* the pose environment
  (``.venv-pose/bin/python -m stf.pose.extract VIDEO... --out DIR``; imports numpy, OpenCV and mediapipe only).
  One ``<video stem>.pose.npz`` per video (format below).
* :mod:`stf.pose.runner` — from the main environment: finds the pose interpreter (``$STF_POSE_PYTHON``, else
  ``.venv-pose/bin/python`` in the repository), runs the extractor, turns its failures into
  :class:`stf.errors.DataError` naming the video (``python -m stf pose``).
* :mod:`stf.data.mediapipe` — the ``mediapipe`` data format: a ``.pose.npz`` as a :class:`stf.sample.Sample`.

Setting up the pose environment (once)::

    python3 -m venv .venv-pose && .venv-pose/bin/pip install --no-deps -r requirements-pose.txt

The ``.pose.npz`` format (``numpy.load(..., allow_pickle=False)``), T = decoded frames:

* ``world`` float32 ``(T, 33, 3)``: MediaPipe's world landmarks in metres, origin mid-hip, turned into the
  Kinect camera convention the NTU / NW-UCLA skeletons use (y up, z away from the camera, the person's left
  at larger x when facing the camera); zeros in frames where nobody was found.
* ``image`` float32 ``(T, 33, 3)``: pixel x, pixel y on the frames as stored in the file, and the landmark's
  visibility in [0, 1].
* ``present`` bool ``(T,)``: frames where a person was found.
* ``info``: a JSON string: ``format`` ("stf-pose"), ``version`` (1), ``video`` (file name), ``fps``,
  ``width``, ``height``, ``frames``, ``mirrored``, ``extractor``, ``layout`` ("mediapipe33"), and ``fps_note``
  when ``fps`` is not the rate the container states (:func:`stf.video_rate.source_fps`: a WebM recorded by a
  browser states its timebase, 1000 fps).

Landmark names are the person's own left and right. Videos recorded by a Kinect (NTU RGB+D's) are stored
mirrored: pass ``--mirrored`` and the extractor swaps MediaPipe's left and right labels (it reads a mirrored
person as the opposite side) and keeps x as MediaPipe gives it; for an ordinary camera it negates x instead.
"""
